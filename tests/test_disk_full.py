"""A full disk under a real `worktrail serve`, on SQLite and on PostgreSQL.

The database lies on a small filesystem of its own (a loop-mounted ext4 image, else a
tmpfs); a filler file leaves it a few megabytes. Sidecar batches are written until the disk
is full. Then every write is refused with 507 in problem+json, naming no file, driver or
statement, and nothing is written; reads go on; nothing acknowledged is lost and the store
is not corrupted. Once the filler is removed, writes succeed again, with no restart.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.model import EventQuery
from worktrail.query import Reader
from worktrail.store import open_store
from worktrail.testing.postgres import PostgresCluster, PostgresServer
from worktrail.testing.server import serve
from worktrail.verify import verify_chain
from worktrail.write import create_organization

pytestmark = pytest.mark.slow

DISK_MB = 24
LEFT_FREE = 3 * 1024 * 1024  # what the filler leaves: a few dozen batches
NOTES_BYTES = 4000  # a task's notes, random (no database compresses them): room per record
SEED = [
    {"type": "workspace", "id": "eng", "state": {"name": "Engineering"}},
    {"type": "project", "id": "launch", "state": {"name": "Launch", "workspace": "eng"}},
]
INTERNALS = ("sqlite", "psycopg", "OperationalError", "No space", "pg_tblspc", "INSERT", "COPY")


@contextmanager
def small_filesystem(size_mb: int) -> Iterator[Path]:
    """A filesystem of `size_mb` of its own, mounted on a new directory (root only)."""
    mount = Path(tempfile.mkdtemp(prefix="worktrail-disk-"))
    mount.chmod(0o755)  # a PostgreSQL cluster's own user must reach its tablespace
    image = mount.with_name(mount.name + ".img")
    try:
        reason = _mount(mount, image, size_mb)
        if reason:
            pytest.skip(f"cannot mount a small filesystem here (root needed): {reason}")
        try:
            yield mount
        finally:
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    finally:
        image.unlink(missing_ok=True)
        shutil.rmtree(mount, ignore_errors=True)


def _mount(mount: Path, image: Path, size_mb: int) -> str:
    """Mount an ext4 image (as on a real disk), else a tmpfs: "" once mounted, else why not."""
    attempts = [
        ["truncate", "-s", f"{size_mb}M", str(image)],
        ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
        ["mount", "-o", "loop", str(image), str(mount)],
    ]
    for command in attempts:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            break
    else:
        return ""
    tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)]
    fallback = subprocess.run(tmpfs, capture_output=True, text=True)
    if fallback.returncode == 0:
        return ""
    return f"{' '.join(command[:2])}: {done.stderr.strip()}; tmpfs: {fallback.stderr.strip()}"


@contextmanager
def database_on(disk: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database on `disk`: an SQLite file, or a PostgreSQL database whose
    tablespace is there (its write-ahead log stays on the cluster's own disk)."""
    if backend == "sqlite":
        yield f"sqlite:///{disk / 'worktrail.db'}"
        return
    server: PostgresServer | None = request.getfixturevalue("postgres_server")
    if not isinstance(server, PostgresCluster):
        pytest.skip("needs a local PostgreSQL cluster to put a tablespace on a small disk")
    location = disk / "tablespace"
    location.mkdir()
    owner = os.stat(server.data_dir)
    os.chown(location, owner.st_uid, owner.st_gid)
    with server.connect() as conn:
        conn.execute(f"CREATE TABLESPACE wt_small LOCATION '{location}'")
        conn.execute("CREATE DATABASE wt_full TABLESPACE wt_small")
    try:
        yield server.database_url("wt_full")
    finally:
        server.drop_database("wt_full")
        with server.connect() as conn:
            conn.execute("DROP TABLESPACE IF EXISTS wt_small")


def prepare(url: str) -> tuple[int, str]:
    """Schema, an organization and its owner's token."""
    store = open_store(Settings(database_url=url))
    try:
        store.migrate()
        created = create_organization(store, "Acme", "Ann Owner", "ann@acme.test")
        _, token = create_token(store, created.org_id, created.owner_id, "loader")
    finally:
        store.close()
    return created.org_id, token


def fill(disk: Path, leave: int) -> Path:
    """A filler file taking all of `disk` but `leave` bytes."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        remaining = stats.f_bavail * stats.f_frsize - leave
        while remaining > 0:
            remaining -= out.write(b"\0" * min(remaining, 1 << 20))
    return filler


def batch(client: httpx.Client, name: str) -> httpx.Response:
    """Three new tasks, each idempotent by its key `name-i`."""
    records = [
        {
            "type": "task",
            "id": f"task-{name}-{i}",
            "state": {
                "name": f"Task {name} {i}",
                "notes": os.urandom(NOTES_BYTES).hex(),
                "project": "launch",
            },
            "idempotency_key": f"{name}-{i}",
        }
        for i in range(3)
    ]
    return client.post("/api/v1/changes", json={"records": records})


def keys_of(name: str) -> set[str]:
    return {f"{name}-{i}" for i in range(3)}


def assert_full(response: httpx.Response) -> None:
    """507 in problem+json, saying what happened, and nothing of how."""
    assert response.status_code == 507, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers  # waiting alone does not free space
    body = response.json()
    assert body["status"] == 507 and body["title"] == "Insufficient storage"
    assert "storage is full" in body["detail"] and "nothing was written" in body["detail"]
    for word in INTERNALS:
        assert word.lower() not in response.text.lower(), (word, response.text)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_full_disk(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with small_filesystem(DISK_MB) as disk, database_on(disk, backend, request) as url:
        org_id, token = prepare(url)
        filler = fill(disk, LEFT_FREE)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            serve(url, tmp_path) as server,
            httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client,
        ):
            assert client.post("/api/v1/changes", json={"records": SEED}).status_code == 200
            acknowledged, refused = write_until_full(client)
            refused_keys = keys_of(refused)
            # the disk stays full: refused again, and nothing of it was written
            assert_full(batch(client, refused))
            assert client.get("/api/v1/events", params={"limit": 5}).status_code == 200

            # space returns (first: on a full disk PostgreSQL may refuse a new connection,
            # such as this check's, before it starts); the same server takes writes again
            filler.unlink()
            assert not set(stored(url, org_id)) & refused_keys
            again = batch(client, refused)
            assert again.status_code == 200, again.text
            assert {r["status"] for r in again.json()["results"]} == {"recorded"}
            assert batch(client, "after").status_code == 200
            assert server.process.poll() is None
            log = server.output()
        assert "database storage full" in log
        acknowledged |= refused_keys | keys_of("after")
        check_store(url, org_id, acknowledged)


def write_until_full(client: httpx.Client) -> tuple[set[str], str]:
    """Write batches until the first refusal: the keys acknowledged, and the refused
    batch's name."""
    acknowledged: set[str] = set()
    for number in range(2000):
        name = f"b{number}"
        response = batch(client, name)
        if response.status_code != 200:
            assert_full(response)
            assert response.headers["x-request-id"]
            return acknowledged, name
        acknowledged |= keys_of(name)
    raise AssertionError("the disk never filled up")


def stored(url: str, org_id: int) -> Counter[str]:
    """How often each idempotency key is in the organization's history."""
    store = open_store(Settings(database_url=url))
    try:
        reader = Reader.whole(store, org_id)
        query = EventQuery(org_id=org_id, ascending=True, limit=1000)
        return Counter(e.idempotency_key for e in reader.iter_events(query) if e.idempotency_key)
    finally:
        store.close()


def check_store(url: str, org_id: int, acknowledged: set[str]) -> None:
    """Every acknowledged key once, nothing else; the chain whole; the file sound."""
    keys = stored(url, org_id)
    assert set(keys) == acknowledged
    assert all(count == 1 for count in keys.values())
    store = open_store(Settings(database_url=url))
    try:
        result = verify_chain(store, org_id)
        assert result.ok, result
        assert result.checked == store.head_seq(org_id)
    finally:
        store.close()
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            check: Any = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        assert check == [("ok",)], check
