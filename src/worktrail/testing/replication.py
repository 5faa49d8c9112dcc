"""PostgreSQL beside a throwaway cluster, for tests: a hot standby streaming from it, and
PgBouncer in front of a server.

* :class:`PostgresStandby` is a :class:`~worktrail.testing.postgres.PostgresCluster`
  made by ``pg_basebackup -R`` from a running cluster instead of ``initdb``: a hot
  standby on a free port of 127.0.0.1 that replays the primary's writes as they stream.
* :class:`PgBouncer` runs Debian's ``pgbouncer`` on a free port of 127.0.0.1 with a
  generated configuration (trust authentication, ``pool_mode = transaction``, server
  connections handed out in turn) in front of one server.

Both stop and remove their directory on :meth:`stop` (or on leaving a ``with`` block).

Example::

    with PostgresCluster() as primary, PostgresStandby(primary) as standby:
        ...
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import psycopg

from .postgres import (
    SUPERUSER,
    PostgresCluster,
    PostgresError,
    _as_user,
    _cluster_owner,
    _free_port,
    _make_root,
    _tail,
    find_postgres_binary,
)

__all__ = ["PgBouncer", "PostgresStandby", "find_pgbouncer"]


class PostgresStandby(PostgresCluster):
    """A hot standby of a running :class:`PostgresCluster`, made with ``pg_basebackup -R``
    (which writes ``standby.signal`` and the primary's connection into the copy) and
    started on a port of its own. Its URLs name the same databases as the primary's."""

    def __init__(self, primary: PostgresCluster, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.primary = primary

    def _initdb(self, initdb: str) -> None:
        backup = find_postgres_binary("pg_basebackup")
        data = self.data_dir
        result = self._run(
            [
                backup,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
            cwd=self._require_root(),
        )
        if result.returncode != 0:
            raise PostgresError(
                f"pg_basebackup failed (exit {result.returncode}):\n{result.stdout[-3000:]}"
            )
        # the primary's settings come along; its port and socket directory are replaced
        self._base_conf = (data / "postgresql.conf").read_text()
        (data / "postmaster.pid").unlink(missing_ok=True)


def find_pgbouncer() -> str:
    """The path of ``pgbouncer`` (Debian installs it in /usr/sbin)."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if found is None:
        raise PostgresError("pgbouncer not found (Debian: apt-get install pgbouncer)")
    return found


class PgBouncer:
    """PgBouncer in transaction mode in front of the server of `server_url` (any database
    on it: ``* = host=... port=...``), listening on a free port of 127.0.0.1."""

    def __init__(self, server_url: str, *, pool_size: int = 3) -> None:
        parts = urlsplit(server_url)
        self._host = parts.hostname or "127.0.0.1"
        self._server_port = parts.port or 5432
        self._user = parts.username or SUPERUSER
        self._pool_size = pool_size
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def database_url(self, name: str) -> str:
        """The SQLAlchemy URL of database `name` through PgBouncer."""
        return f"postgresql+psycopg://{self._user}@127.0.0.1:{self.port}/{name}"

    def start(self) -> Self:
        binary = find_pgbouncer()
        # PgBouncer refuses to run as root: as root it runs as the clusters' user
        owner = _cluster_owner()
        self._root = _make_root(owner)
        atexit.register(self.stop)
        self.port = _free_port()
        ini = self._write_config(owner)
        self._process = subprocess.Popen(
            _as_user([binary, str(ini)], owner),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _write_config(self, owner: str | None) -> Path:
        assert self._root is not None
        users = self._root / "userlist.txt"
        users.write_text(f'"{self._user}" ""\n')
        ini = self._root / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={self._host} port={self._server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self._pool_size}\n"
            "max_client_conn = 500\n"
            # each transaction on the next server connection, as under load, so that
            # nothing can lean on meeting the same one again
            "server_round_robin = 1\n"
            f"logfile = {self._root / 'pgbouncer.log'}\n"
            f"pidfile = {self._root / 'pgbouncer.pid'}\n"
        )
        if owner is not None:
            info = pwd.getpwnam(owner)
            for path in (users, ini):
                os.chown(path, info.pw_uid, info.pw_gid)
        return ini

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        assert self._root is not None and self._process is not None
        deadline = time.monotonic() + timeout
        dsn = f"postgresql://{self._user}@127.0.0.1:{self.port}/postgres"
        while True:
            if self._process.poll() is not None:
                raise PostgresError(
                    f"pgbouncer exited ({self._process.returncode}):\n"
                    + _tail(self._root / "pgbouncer.log")
                )
            try:
                with psycopg.connect(dsn, connect_timeout=2, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise PostgresError(f"pgbouncer does not accept connections: {exc}") from exc
                time.sleep(0.1)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
