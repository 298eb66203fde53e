"""What every `geo-service` command shares: the settings, built once by the CLI callback."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from geo_service.errors import GeoServiceError
from geo_service.settings import Settings


@dataclass
class CliState:
    """The settings of this run, and its engine once a command asks for one."""

    settings: Settings
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        """The configured database's engine (the local cluster started if it is that)."""
        if self._engine is None:
            from geo_service.db.engine import open_engine

            self._engine = open_engine(self.settings.database)
        return self._engine

    def migrated_engine(self) -> Engine:
        """The engine, its schema brought up to date first (for tools that need new tables)."""
        from geo_service.db import migrate

        engine = self.engine()
        migrate.upgrade(engine)
        return engine


_current: list[CliState] = []


def begin(settings: Settings, *, debug: bool = False) -> CliState:
    """Start a run of `geo-service` with these settings (called once, by its callback)."""
    _current[:] = [CliState(settings, debug=debug)]
    return _current[0]


def state() -> CliState:
    """The running command's state (made by the `geo-service` callback)."""
    if not _current:
        raise GeoServiceError("not inside a geo-service command")
    return _current[0]
