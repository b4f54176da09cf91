"""A throwaway PostgreSQL server on loopback, for tests and benchmarks.

``ThrowawayPostgres`` finds the server binaries (installing Debian's ``postgresql``
package when they are absent), creates a cluster in a temporary directory, starts it
on ``127.0.0.1`` on a free port and removes everything on ``stop()``.

Its databases are set up as a deployment's are (``nextoffer db create-roles``): the
owner role ``nextoffer_owner`` owns them and migrates them, and ``new_database()`` hands out
the URL of the application role ``nextoffer_app``, which owns nothing and may not update,
delete or truncate the ledger, so that every test runs with the service's privileges.
``owner_url()`` gives the same database as its owner (migrating from old revisions,
archiving); ``url`` and ``dsn`` are the cluster's superuser.

PostgreSQL refuses to run as root. When this process is root, the cluster is owned by
and run as an unprivileged system user (``postgres`` when it exists, else ``nextoffer-pg``
is created), so the same code works for a developer and for CI, which run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "APP",
    "OWNER",
    "SUPERUSER",
    "PostgresUnavailable",
    "ThrowawayPostgres",
    "find_bindir",
    "install_server",
    "owner_url",
    "superuser_url",
]

_SERVICE_USER = "nextoffer-pg"
OWNER, APP, SUPERUSER = "nextoffer_owner", "nextoffer_app", "nextoffer"


def owner_url(url: str) -> str:
    """The database of ``url`` (the application role's, from ``new_database``) as its
    owner role."""
    return url.replace(f"://{APP}@", f"://{OWNER}@", 1)


def superuser_url(url: str) -> str:
    """The database of ``url`` (the application role's or the owner's) as the cluster's
    superuser: what tests that play an administrator editing the ledger connect as."""
    for role in (APP, OWNER):
        url = url.replace(f"://{role}@", f"://{SUPERUSER}@", 1)
    return url


class PostgresUnavailable(RuntimeError):
    """The server binaries could not be found or installed, or the server did not start."""


def _bindir_candidates() -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("NEXTOFFER_PG_BINDIR")
    if env:
        found.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            out = subprocess.run(
                [pg_config, "--bindir"], check=True, capture_output=True, text=True
            ).stdout.strip()
            found.append(Path(out))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    found.extend(Path(p) for p in versions)
    initdb = shutil.which("initdb")
    if initdb:
        found.append(Path(initdb).resolve().parent)
    return found


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    for cand in _bindir_candidates():
        if all((cand / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return cand
    return None


def install_server() -> Path:
    """Install Debian's PostgreSQL server packages (needs root and apt) and return the bindir."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found; install the 'postgresql' package "
            "or set NEXTOFFER_PG_BINDIR (automatic install needs root and apt-get)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable("installed 'postgresql' but found no initdb/pg_ctl")
    return bindir


def _service_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVICE_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVICE_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_SERVICE_USER)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    database: str = "nextoffer"
    user: str = SUPERUSER
    owner: str = OWNER
    app: str = APP
    install: bool = True
    port: int = 0
    # False (tests): fsync and synchronous commit off, for speed. True (benchmarks): the
    # server's defaults, so a commit waits for the write-ahead log to reach the disk.
    durable: bool = False
    _dir: Path | None = field(default=None, init=False, repr=False)
    _bindir: Path | None = field(default=None, init=False, repr=False)
    _runas: pwd.struct_passwd | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """A SQLAlchemy / libpq URL for psycopg 3."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """A plain libpq connection string."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={self.database}"

    def new_database(self, prefix: str = "t", *, migrated: bool = True) -> str:
        """Create a fresh database owned by the owner role. ``migrated``: migrated to the
        newest schema as the owner, with the application role's grants, and the application
        role's URL returned; else empty, and the owner's URL (to migrate step by step)."""
        import psycopg

        from ..service.db import Database
        from ..service.roles.service import create_roles

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.owner}"')
        owner = f"postgresql+psycopg://{self.owner}@127.0.0.1:{self.port}/{name}"
        if not migrated:
            return owner
        db = Database(owner)
        try:
            create_roles(db, self.app)
        finally:
            db.dispose()
        return f"postgresql+psycopg://{self.app}@127.0.0.1:{self.port}/{name}"

    def owner_url(self, url: str) -> str:
        """The database of ``url`` (one of ``new_database``'s) as its owner role."""
        name = url.rsplit("/", 1)[1]
        return f"postgresql+psycopg://{self.owner}@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bindir is not None
        cmd = [str(self._bindir / args[0]), *args[1:]]
        kwargs: dict[str, object] = {}
        if self._runas is not None:
            kwargs = {"user": self._runas.pw_uid, "group": self._runas.pw_gid, "extra_groups": []}
        proc: subprocess.CompletedProcess[str] = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=str(self._dir),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            **kwargs,  # type: ignore[call-overload]
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def start(self) -> ThrowawayPostgres:
        bindir = find_bindir()
        if bindir is None:
            if not self.install:
                raise PostgresUnavailable("PostgreSQL server binaries not found")
            bindir = install_server()
        self._bindir = bindir
        self._runas = _service_user()
        self._dir = Path(tempfile.mkdtemp(prefix="nextoffer-pg-"))
        data = self._dir / "data"
        if self._runas is not None:
            os.chown(self._dir, self._runas.pw_uid, self._runas.pw_gid)
        self.port = self.port or _free_port()
        self._run(
            "initdb", "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self._dir}"
            " -c max_connections=200 -c timezone=UTC"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self._dir / "log"), "-w",
                  "-t", "60", "start")  # fmt: skip
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                  self.database)  # fmt: skip
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:  # trust: no passwords
            conn.execute(f'CREATE ROLE "{self.owner}" LOGIN')
            conn.execute(f'CREATE ROLE "{self.app}" LOGIN NOINHERIT')
        return self

    def restart(self, mode: str = "fast") -> None:
        """Restart the server as an operator would: ``pg_ctl restart -m fast`` (clients
        disconnected, a clean shutdown) or ``-m immediate`` (no shutdown: crash recovery
        at start, while the server answers "the database system is starting up")."""
        assert self._dir is not None
        self._run("pg_ctl", "-D", str(self._dir / "data"), "-m", mode, "-w", "-t", "60",
                  "-l", str(self._dir / "log"), "restart")  # fmt: skip

    def stop(self) -> None:
        if self._dir is None:
            return
        with contextlib.suppress(PostgresUnavailable):
            self._run("pg_ctl", "-D", str(self._dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
