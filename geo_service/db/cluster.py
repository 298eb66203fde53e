"""The embedded PostGIS cluster: Debian's postgresql + postgis, run from a folder in the tree.

Layout of `DatabaseSettings.local_dir` (default `./.local_db`):
  data/      the cluster (PGDATA), owned by the user the server runs as
  log/       the server log
  password   the superuser's generated password (mode 0600)

The server listens on 127.0.0.1 only, with scram-sha-256 passwords. As root, the
server runs as Debian's unprivileged `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geo_service.errors import DatabaseUnavailableError
from geo_service.settings import DatabaseSettings

SUPERUSER = "geo_service"
# Room for `serve --workers N`: each worker keeps pool_size connections and may open 10 more
# in a burst (SQLAlchemy's max_overflow), so 8 workers at the default pool need 160.
MAX_CONNECTIONS = 300
_PG_ROOT = Path("/usr/lib/postgresql")
_SHARE_ROOT = Path("/usr/share/postgresql")


@dataclass(frozen=True)
class LocalCluster:
    """Paths and identity of the embedded cluster."""

    root: Path
    port: int
    database: str

    @property
    def data_dir(self) -> Path:
        """PGDATA."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.root / "log" / "postgresql.log"

    @property
    def password_file(self) -> Path:
        """File holding the generated superuser password."""
        return self.root / "password"

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> LocalCluster:
        """The cluster described by the settings."""
        return cls(settings.local_dir.resolve(), settings.local_port, settings.local_database)

    def password(self) -> str:
        """The superuser password (exists once the cluster is initialised)."""
        return self.password_file.read_text().strip()

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return (
            f"postgresql+psycopg://{SUPERUSER}:{self.password()}@127.0.0.1:{self.port}/"
            f"{database or self.database}"
        )

    def is_initialised(self) -> bool:
        """True once initdb has run."""
        return (self.data_dir / "PG_VERSION").exists() and self.password_file.exists()

    def is_running(self) -> bool:
        """True if the cluster's postmaster is up (pg_ctl status)."""
        if not self.is_initialised():
            return False
        result = _run_as_owner([str(pg_bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)],
                               check=False)
        return result.returncode == 0

    def start(self) -> None:
        """Initialise (first time) and start the cluster; wait until it accepts connections."""
        if not self.is_initialised():
            self._initdb()
        if self.is_running():
            return
        if _port_in_use(self.port):
            raise DatabaseUnavailableError(
                f"port {self.port} on 127.0.0.1 is taken by another program; "
                "set GEO_SERVICE_LOCAL_PORT to a free port"
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
            f" -c max_connections={MAX_CONNECTIONS}"
        )
        result = _run_as_owner(
            [str(pg_bindir() / "pg_ctl"), "start", "-D", str(self.data_dir), "-w", "-t", "60",
             "-l", str(self.log_file), "-o", options],
            check=False,
        )
        if result.returncode != 0:
            tail = _tail(self.log_file)
            raise DatabaseUnavailableError(f"the local PostGIS did not start:\n{tail}")
        self._ensure_database()

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown); False if it was not running."""
        if not self.is_running():
            return False
        _run_as_owner([str(pg_bindir() / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m",
                       "fast", "-w"])
        return True

    def _initdb(self) -> None:
        """Create the cluster folder, owned by the unprivileged server user."""
        owner = server_user()
        self.root.mkdir(parents=True, exist_ok=True)
        _grant_traverse(self.root, owner)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DatabaseUnavailableError(
                f"{self.data_dir} exists but holds no complete cluster; move it away and retry"
            )
        for folder in (self.data_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        self.data_dir.chmod(0o700)
        password = secrets.token_urlsafe(24)
        pwfile = self.log_file.parent / ".initdb-password"
        pwfile.write_text(password + "\n")
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        pwfile.chmod(0o600)
        try:
            _run_as_owner([
                str(pg_bindir() / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                "--pwfile", str(pwfile), "--auth=scram-sha-256", "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)

    def _ensure_database(self) -> None:
        """Create the service database if it does not exist yet."""
        import psycopg

        conninfo = self.url("postgres").replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                from psycopg import sql

                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))


def pg_bindir() -> Path:
    """The newest Debian PostgreSQL whose PostGIS extension is installed."""
    candidates = sorted(
        (p for p in _PG_ROOT.glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
        reverse=True,
    )
    for bindir in candidates:
        if (_SHARE_ROOT / bindir.parent.name / "extension" / "postgis.control").exists():
            return bindir
    raise DatabaseUnavailableError(
        "PostgreSQL with PostGIS is not installed: run ./manage.sh setup "
        "(or apt-get install postgresql postgis)"
    )


def server_user() -> pwd.struct_passwd:
    """The account the server runs as: yourself, or `postgres` when you are root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise DatabaseUnavailableError(
            "running as root needs the unprivileged 'postgres' account "
            "(created by Debian's postgresql package)"
        ) from exc


def _run_as_owner(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the server user (via runuser when root)."""
    if os.geteuid() == 0:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        args = [runuser, "-u", server_user().pw_name, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, cwd="/", check=False)
    if check and result.returncode != 0:
        raise DatabaseUnavailableError(
            f"{Path(args[-1] if args else '').name}: {' '.join(args)} failed:\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _grant_traverse(path: Path, owner: pwd.struct_passwd) -> None:
    """Let the server user reach `path`: add search (x) permission where an ancestor lacks it."""
    if owner.pw_uid == os.geteuid():
        return
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def _port_in_use(port: int) -> bool:
    """True if something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, or a note that it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def wait_until_accepting(url: str, timeout_s: float = 30.0) -> None:
    """Poll a database URL until it accepts connections."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg", "postgresql")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=3):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise DatabaseUnavailableError(f"database not reachable: {exc}") from exc
            time.sleep(0.3)
