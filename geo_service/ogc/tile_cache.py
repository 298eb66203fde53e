"""A bounded in-memory cache of encoded vector tiles (one per worker process).

Keys carry the tileset, z/x/y, the caller's view (anonymous, or the staff role) and the
versions of the layer tables the tile draws from (`layer_versions`, bumped by a trigger on
every row change), so a change of any row makes the old entries unreachable and a staff
tile can never answer an anonymous caller. Least recently used entries go first once the
entries' bytes (tile + a fixed overhead per entry) would pass `max_bytes`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
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
