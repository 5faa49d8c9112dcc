"""PostgreSQL for tests: a server that already runs, or a throwaway cluster.

Two kinds of server:

* :class:`PostgresServer` wraps a server that already runs, such as the one named by
  ``WORKTRAIL_TEST_DATABASE_URL`` (see :func:`postgres_url_from_env`). Its user must be
  allowed to create databases.
* :class:`PostgresCluster` starts a throwaway cluster with ``initdb`` and ``pg_ctl`` in a
  temporary directory, listening on 127.0.0.1 on a free port, tuned for speed rather than
  durability (no fsync), and removes it again on :meth:`PostgresCluster.stop`.

Both hand out SQLAlchemy URLs (``postgresql+psycopg://...``) and create and drop
databases, optionally copied from a template database. :func:`start_postgres` picks one:
the server from the environment when it is set, a new cluster otherwise.

PostgreSQL refuses to run as root. Run as root, the cluster belongs to the ``postgres``
system user (or, where there is none, to a ``worktrail-pg`` system user created for it),
and ``initdb`` and ``pg_ctl`` run as that user through ``runuser`` (or ``su``).

Example::

    with PostgresCluster() as cluster:
        url = cluster.create_database("app")
        ...
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

__all__ = [
    "ENV_URL",
    "PostgresCluster",
    "PostgresError",
    "PostgresServer",
    "find_postgres_binary",
    "postgres_url_from_env",
    "start_postgres",
]

ENV_URL = "WORKTRAIL_TEST_DATABASE_URL"
"""Environment variable naming an existing server to use instead of a throwaway cluster."""

SUPERUSER = "worktrail"
"""The superuser that :class:`PostgresCluster` creates; it logs in without a password."""

SYSTEM_USER = "postgres"
"""The system user that runs the cluster when the tests run as root."""

FALLBACK_SYSTEM_USER = "worktrail-pg"
"""The system user created to run the cluster when the tests run as root and there is no
``postgres`` user."""

_DRIVER_SCHEME = "postgresql+psycopg"
_PLAIN_SCHEMES = ("postgresql", "postgres")
_LOG_TAIL_CHARS = 3000
# A Unix socket path must fit in sockaddr_un (107 bytes on Linux), socket file name included.
_MAX_SOCKET_DIR_LEN = 80


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, started or used."""


def postgres_url_from_env() -> str | None:
    """The SQLAlchemy URL of the server named by ``WORKTRAIL_TEST_DATABASE_URL``, if set.

    ``postgresql://`` and ``postgres://`` URLs are rewritten to ``postgresql+psycopg://``;
    an unset or blank variable gives ``None``.
    """
    value = os.environ.get(ENV_URL, "").strip()
    return to_sqlalchemy_url(value) if value else None


def to_sqlalchemy_url(url: str) -> str:
    """``url`` with a plain PostgreSQL scheme replaced by SQLAlchemy's psycopg 3 one."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _PLAIN_SCHEMES:
        return f"{_DRIVER_SCHEME}://{rest}"
    return url


def to_libpq_url(url: str) -> str:
    """``url`` as a libpq connection URI (``postgresql://``), as psycopg expects it."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return url


def find_postgres_binary(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``, ...).

    Looks on ``PATH`` first, then under ``/usr/lib/postgresql/<version>/bin`` (Debian's
    layout), newest version first.
    """
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=_version_key, reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise PostgresError(
        f"{name} not found on PATH nor in /usr/lib/postgresql/*/bin: install PostgreSQL's "
        "server programs (Debian: apt-get install postgresql)"
    )


def _version_key(path: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin/...``: 16 after 9.6."""
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, chars: int = _LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:]


class PostgresServer:
    """A running PostgreSQL server on which databases can be created and dropped.

    ``url`` is the SQLAlchemy URL of its maintenance database (usually ``postgres``);
    plain ``postgresql://`` URLs are accepted too.
    """

    def __init__(self, url: str | None = None) -> None:
        self._url = to_sqlalchemy_url(url) if url else None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database, ``postgresql+psycopg://...``."""
        if self._url is None:
            raise PostgresError("the PostgreSQL server is not running")
        return self._url

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL of database ``name`` on this server (which need not exist)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + quote(name, safe="")))

    def connect(self, dbname: str | None = None) -> psycopg.Connection[TupleRow]:
        """An autocommit psycopg connection to ``dbname`` (default: the maintenance one)."""
        url = self.database_url(dbname) if dbname else self.url
        return psycopg.connect(to_libpq_url(url), autocommit=True, connect_timeout=10)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name``, a copy of ``template`` if given, and return its URL.

        A database of that name left over from an earlier run is dropped first. Copying a
        template needs nobody to be connected to the template.
        """
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(self._drop_statement(name))
            conn.execute(statement)
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting whoever is still connected."""
        with self.connect() as conn:
            conn.execute(self._drop_statement(name))

    @staticmethod
    def _drop_statement(name: str) -> sql.Composed:
        return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))

    def stop(self) -> None:
        """Release the server; one that was already running is left running."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PostgresCluster(PostgresServer):
    """A throwaway PostgreSQL cluster in a temporary directory.

    :meth:`start` runs ``initdb`` (superuser ``worktrail``, trust authentication, UTF8, no
    locale) and ``pg_ctl start`` on a free port of 127.0.0.1; :meth:`stop` stops the server
    at once and removes the directory. Used as a context manager, it starts on entry and
    stops on exit. A cluster still running when the interpreter exits is stopped then.
    :meth:`pause` and :meth:`resume` stop the server and start it again on the same port
    and data, as a database outage would.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 60.0,
        start_attempts: int = 3,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.startup_timeout = startup_timeout
        self.start_attempts = start_attempts
        self.settings = dict(settings or {})  # over the test settings (e.g. RECOMMENDED)
        self._root: Path | None = None
        self._port: int | None = None
        self._owner: str | None = None
        self._base_conf = ""
        self._paused = False

    # -- state -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._url is not None and not self._paused

    @property
    def paused(self) -> bool:
        """Stopped by :meth:`pause`, to be started again by :meth:`resume`."""
        return self._paused

    @property
    def port(self) -> int:
        """The TCP port the server listens on, on 127.0.0.1 (paused: will listen on)."""
        if self._port is None:
            raise PostgresError("the PostgreSQL cluster is not running")
        return self._port

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self._require_root() / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._require_root() / "server.log"

    def _require_root(self) -> Path:
        if self._root is None:
            raise PostgresError("the PostgreSQL cluster has not been started")
        return self._root

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Create and start the cluster; returns once it accepts connections.

        Raises :class:`PostgresError`, with the end of the server log, if it does not.
        """
        if self._paused:
            self.resume()
        if self.running:
            return self
        initdb = find_postgres_binary("initdb")
        pg_ctl = find_postgres_binary("pg_ctl")
        self._owner = _cluster_owner()
        self._root = _make_root(self._owner)
        atexit.register(self.stop)
        try:
            self._initdb(initdb)
            self._start_server(pg_ctl)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def pause(self, mode: str = "fast") -> None:
        """Stop the server but keep the cluster (data, settings, port), as an outage does,
        until :meth:`resume`. ``mode`` is pg_ctl's: ``fast`` ends every session and
        writes a checkpoint, ``immediate`` is a crash."""
        if not self.running:
            raise PostgresError("the PostgreSQL cluster is not running")
        pg_ctl = find_postgres_binary("pg_ctl")
        stop = [pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "stop"]
        result = self._run(stop, cwd=self._require_root())
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed (exit {result.returncode}):\n{result.stdout}")
        self._paused = True

    def resume(self) -> None:
        """Start a paused server again on the same port and data; returns once it accepts
        connections."""
        if not self._paused:
            return
        result = self._pg_ctl_start(find_postgres_binary("pg_ctl"))
        if result.returncode != 0:
            raise PostgresError(
                f"pg_ctl start failed (exit {result.returncode}):\n{result.stdout[-1000:]}"
                f"\n--- server log ({self.log_path}) ---\n{_tail(self.log_path)}"
            )
        self._paused = False
        self._wait_until_ready()

    def stop(self) -> None:
        """Stop the server immediately (no checkpoint) and remove its directory."""
        atexit.unregister(self.stop)
        root, self._root, self._url, self._port = self._root, None, None, None
        self._paused = False
        if root is None:
            return
        data = root / "data"
        if (data / "postmaster.pid").exists():
            try:
                pg_ctl = find_postgres_binary("pg_ctl")
            except PostgresError:
                pass
            else:
                self._run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], cwd=root)
        shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    # -- steps -------------------------------------------------------------------------

    def _initdb(self, initdb: str) -> None:
        data = self.data_dir
        result = self._run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=self._require_root(),
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed (exit {result.returncode}) for {data}"
                + (f" as user {self._owner}" if self._owner else "")
                + f":\n{result.stdout[-_LOG_TAIL_CHARS:]}"
            )
        self._base_conf = (data / "postgresql.conf").read_text()

    def _write_conf(self, port: int) -> None:
        root = self._require_root()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": _conf_string(str(root)),
            "max_connections": "200",
            "shared_buffers": "128MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
            **self.settings,
        }
        extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # Written in place so the file keeps its owner; later lines win over earlier ones.
        (self.data_dir / "postgresql.conf").write_text(
            self._base_conf + "\n# test cluster\n" + extra
        )

    def _start_server(self, pg_ctl: str) -> None:
        failure = ""
        for _ in range(max(1, self.start_attempts)):
            port = _free_port()
            self._write_conf(port)
            self.log_path.unlink(missing_ok=True)
            result = self._pg_ctl_start(pg_ctl)
            if result.returncode == 0:
                self._port = port
                self._url = f"{_DRIVER_SCHEME}://{SUPERUSER}@127.0.0.1:{port}/postgres"
                return
            log = _tail(self.log_path)
            failure = (
                f"pg_ctl start failed (exit {result.returncode}):\n"
                f"{result.stdout[-1000:]}\n--- server log ({self.log_path}) ---\n{log}"
            )
            # Another process may have taken the port since it was found free: retry.
            if "could not bind" not in log and "already in use" not in log:
                break
            self._stop_quietly(pg_ctl)
        raise PostgresError(failure)

    def _pg_ctl_start(self, pg_ctl: str) -> subprocess.CompletedProcess[str]:
        return self._run(
            [
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-t",
                str(int(self.startup_timeout)),
                "-w",
                "start",
            ],
            cwd=self._require_root(),
        )

    def _stop_quietly(self, pg_ctl: str) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL started on port {self._port} but does not accept "
                        f"connections: {exc}\n--- server log ---\n{_tail(self.log_path)}"
                    ) from exc
                time.sleep(0.1)

    def _run(self, cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the cluster's owner, output merged into stdout."""
        return subprocess.run(
            _as_user(cmd, self._owner),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )


def _conf_string(value: str) -> str:
    """``value`` as a quoted postgresql.conf string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _cluster_owner() -> str | None:
    """The system user to run the cluster as: ``None`` (this process) unless it is root."""
    if os.geteuid() != 0:
        return None
    for name in (SYSTEM_USER, FALLBACK_SYSTEM_USER):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", FALLBACK_SYSTEM_USER],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    try:  # a concurrent run may have created it first
        return pwd.getpwnam(FALLBACK_SYSTEM_USER).pw_name
    except KeyError:
        raise PostgresError(
            f"running as root, and neither user {SYSTEM_USER!r} exists nor could user "
            f"{FALLBACK_SYSTEM_USER!r} be created: {result.stdout.strip()}"
        ) from None


def _make_root(owner: str | None) -> Path:
    """A new temporary directory for the cluster, owned by ``owner`` when given."""
    base: str | None = None
    if len(tempfile.gettempdir()) > _MAX_SOCKET_DIR_LEN - 30 and os.path.isdir("/tmp"):
        base = "/tmp"
    root = Path(tempfile.mkdtemp(prefix="worktrail-pg-", dir=base))
    if owner is not None:
        info = pwd.getpwnam(owner)
        os.chown(root, info.pw_uid, info.pw_gid)
    return root


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    """``cmd`` wrapped to run as ``user`` (``runuser``, else ``su``); unchanged for None."""
    if user is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *cmd]
    return ["su", user, "-s", "/bin/sh", "-c", shlex.join(cmd)]


def start_postgres(settings: Mapping[str, str] | None = None) -> PostgresServer:
    """The server named by ``WORKTRAIL_TEST_DATABASE_URL``, else a new started cluster
    (with ``settings`` over the test settings: the benchmarks pass the recommended ones).

    Call :meth:`PostgresServer.stop` when done with it.
    """
    url = postgres_url_from_env()
    if url is not None:
        return PostgresServer(url)
    return PostgresCluster(settings=settings).start()
