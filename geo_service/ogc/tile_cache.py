"""A bounded in-memory cache of encoded vector tiles (one per worker process).

Keys carry the tileset, z/x/y, the caller's view (anonymous, or the staff role) and the
versions of the layer tables the tile draws from (`layer_versions`, bumped by a trigger on
every row change), so a change of any row makes the old entries unreachable and a staff
tile can never answer an anonymous caller. Least recently used entries go first once the
entries' bytes (tile + a fixed overhead per entry) would pass `max_bytes`.

`LayerVersionCache` keeps the last read of `layer_versions` for `ttl_s` seconds, so a cache
hit needs no database round trip; a row change then reaches tiles within `ttl_s` (0 = read
the versions on every request, in the tile's own snapshot).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from geo_service.access import Principal

ENTRY_OVERHEAD = 256  # bytes counted per entry besides the tile (key, ETag, bookkeeping)
TileKey = tuple[str, int, int, int, str, tuple[int, ...]]


@dataclass(frozen=True)
class EncodedTile:
    """MVT bytes (b'' for an empty tile) and their strong ETag ('' when empty)."""

    data: bytes
    etag: str


def view_of(principal: Principal) -> str:
    """The cache's name for what a caller may see: 'anonymous' or the staff role."""
    return "anonymous" if principal.is_anonymous else principal.role.value


class TileCache:
    """LRU of encoded tiles bounded by bytes; `max_bytes` 0 keeps nothing."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[TileKey, EncodedTile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def cost(tile: EncodedTile) -> int:
        """Bytes an entry counts against the bound."""
        return len(tile.data) + ENTRY_OVERHEAD

    @property
    def bytes_used(self) -> int:
        """Bytes the entries count now (never above max_bytes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def held(self) -> list[TileKey]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def get(self, key: TileKey) -> EncodedTile | None:
        """The tile under `key` (now the most recently used), or None."""
        with self._lock:
            tile = self._entries.get(key)
            if tile is not None:
                self._entries.move_to_end(key)
            return tile

    def put(self, key: TileKey, tile: EncodedTile) -> None:
        """Keep `tile` under `key`, dropping the least recently used beyond the bound."""
        cost = self.cost(tile)
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= self.cost(old)
            self._entries[key] = tile
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self.cost(dropped)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


class LayerVersionCache:
    """The layer tables' versions as last read, trusted for `ttl_s` seconds (0 = never)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._read: tuple[float, dict[str, int]] | None = None

    def fresh(self) -> dict[str, int] | None:
        """The versions if read less than `ttl_s` ago, else None."""
        read = self._read
        if read is None or self.ttl_s <= 0 or self.clock() - read[0] >= self.ttl_s:
            return None
        return read[1]

    def store(self, versions: dict[str, int], read_at: float) -> None:
        """Remember versions read at `read_at` (a `clock()` value taken before the read)."""
        if self.ttl_s > 0 and (self._read is None or read_at >= self._read[0]):
            self._read = (read_at, versions)

    def clear(self) -> None:
        """Forget the versions (the next tile reads them)."""
        self._read = None
