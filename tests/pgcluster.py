"""PostgreSQL for the test suite: an existing server named by WORKTRAIL_TEST_DATABASE_URL,
or a throwaway cluster (initdb + pg_ctl) in a temp dir on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql


def _find(binary: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), reverse=True)
    if candidates:
        return candidates[0]
    raise RuntimeError(
        f"{binary} not found: install PostgreSQL (Debian: apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresServer:
    """A server on which the tests create and drop databases."""

    def __init__(self, admin_url: str, data_dir: Path | None = None, user: str | None = None):
        self.admin_url = _sqlalchemy_url(admin_url)
        self._conninfo = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        self._data_dir = data_dir
        self._user = user

    def database_url(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = stmt + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(stmt)
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        if self._data_dir is None:
            return
        subprocess.run(
            _as_user(
                [_find("pg_ctl"), "-D", str(self._data_dir), "-m", "immediate", "stop"], self._user
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self._data_dir.parent, ignore_errors=True)
        self._data_dir = None


def start_postgres() -> PostgresServer:
    """Use WORKTRAIL_TEST_DATABASE_URL, or start a throwaway cluster."""
    url = os.environ.get("WORKTRAIL_TEST_DATABASE_URL")
    if url:
        return PostgresServer(url)
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "worktrail-pg"], check=True)
            user = "worktrail-pg"
    root = Path(tempfile.mkdtemp(prefix="worktrail-pg-"))
    data = root / "data"
    if user:
        info = pwd.getpwnam(user)
        os.chown(root, info.pw_uid, info.pw_gid)
    os.chmod(root, 0o755)
    port = _free_port()
    init = subprocess.run(
        _as_user(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "worktrail",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            user,
        ),
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    log = root / "server.log"
    start = subprocess.run(
        _as_user(
            [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            user,
        ),
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {start.stderr[-1000:]} {tail}")
    server = PostgresServer(f"postgresql://worktrail@127.0.0.1:{port}/postgres", data, user)
    for _ in range(100):
        try:
            with psycopg.connect(server._conninfo, connect_timeout=2):
                return server
        except psycopg.OperationalError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("PostgreSQL started but does not accept connections")
