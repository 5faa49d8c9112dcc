"""Backup and restore: a consistent copy of a live SQLite store while another process
writes, restored and verified, with no acknowledged event missing; a PostgreSQL store
round-tripped through pg_dump -Fc and pg_restore."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worktrail.auth import principal_for_user
from worktrail.cli import app
from worktrail.config import Settings
from worktrail.model import EntityType, EventQuery
from worktrail.query import Reader
from worktrail.store import Store, open_store
from worktrail.testing.postgres import PostgresServer, find_postgres_binary, to_libpq_url
from worktrail.verify import verify_chain
from worktrail.write import Writer, create_organization

from .readme import ROOT

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worktrail.cli", *args], capture_output=True, text=True, timeout=300
    )


def hashes(store: Store, org_id: int = 1) -> dict[int, str]:
    reader = Reader.whole(store, org_id)
    query = EventQuery(org_id=org_id, ascending=True, limit=1000)
    return {event.seq: event.hash for event in reader.iter_events(query)}


class Acks:
    """The seqs a writer process acknowledged, each with when it came."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[tuple[float, int]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append((time.monotonic(), int(line)))

    def until(self, moment: float) -> list[int]:
        return [seq for at, seq in list(self.seen) if at < moment]

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.seen) < count:
            assert self.process.poll() is None, "the writer stopped"
            assert time.monotonic() < deadline, "the writer is not writing"
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.thread.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_a_backup_taken_while_another_process_writes_restores_whole(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    url = f"sqlite:///{live}"
    assert cli("demo", "--events", "3000", "--database-url", url).returncode == 0
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.writer", url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    acks = Acks(writer)
    try:
        acks.wait_for(20)
        started = time.monotonic()
        acknowledged = acks.until(started)  # every one of these must be in the backup
        backup = cli(
            "backup", str(tmp_path / "copy.db"), "--step-pages", "4", "--database-url", url
        )
        finished = time.monotonic()
        acks.wait_for(len(acks.seen) + 5)  # still writing afterwards
    finally:
        acks.stop()
    assert backup.returncode == 0, backup.stderr
    assert "Backed up" in backup.stdout and "1 organization" in backup.stdout

    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    restore = cli("restore", str(tmp_path / "copy.db"), "--database-url", restored_url)
    assert restore.returncode == 0, restore.stderr
    verified = cli("verify", "--database-url", restored_url)
    assert verified.returncode == 0 and "chain intact" in verified.stdout, verified.stdout

    original, restored = open_store(Settings(url)), open_store(Settings(restored_url))
    try:
        kept, written = hashes(restored), hashes(original)
    finally:
        original.close()
        restored.close()
    snapshot = max(kept)
    # nothing acknowledged before the backup began is missing, and what is there is
    # exactly the original history up to one point: no event cut off, none altered
    assert set(acknowledged) <= set(kept)
    assert kept == {seq: h for seq, h in written.items() if seq <= snapshot}
    # the writer went on while the backup ran: events acknowledged after the snapshot,
    # before the backup ended, are rightly not in it
    during = [seq for seq in acks.until(finished) if seq not in acknowledged]
    assert any(seq > snapshot for seq in during), (snapshot, during[-5:])


def test_restore_refuses_a_store_that_holds_organizations(tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for path, name in ((first, "First"), (second, "Second")):
        made = cli("org", "create", "--name", name, "--owner-name", "O", "--owner-email",
                   "o@x.test", "--database-url", f"sqlite:///{path}")  # fmt: skip
        assert made.returncode == 0, made.stderr
    copy = tmp_path / "first-copy.db"
    result = runner.invoke(app, ["backup", str(copy), "--database-url", f"sqlite:///{first}"])
    assert result.exit_code == 0, result.output
    target = f"sqlite:///{second}"
    refused = runner.invoke(app, ["restore", str(copy), "--database-url", target])
    assert refused.exit_code == 1
    assert "holds 1 organization" in refused.output and "--force" in refused.output
    with_force = runner.invoke(app, ["restore", str(copy), "--force", "--database-url", target])
    assert with_force.exit_code == 0, with_force.output
    listed = runner.invoke(app, ["org", "list", "--database-url", target])
    assert "First" in listed.output and "Second" not in listed.output


def test_restore_into_an_empty_place_and_over_an_empty_store(
    tmp_path: Path, sqlite_template: Path
) -> None:
    source = tmp_path / "source.db"
    made = cli("org", "create", "--name", "S", "--owner-name", "O", "--owner-email", "o@s.test",
               "--database-url", f"sqlite:///{source}")  # fmt: skip
    assert made.returncode == 0
    copy = tmp_path / "copy.db"
    assert (
        runner.invoke(app, ["backup", str(copy), "--database-url", f"sqlite:///{source}"]).exit_code
        == 0
    )
    empty = tmp_path / "empty.db"
    shutil.copyfile(sqlite_template, empty)  # migrated, no organization
    for target in (tmp_path / "new" / "store.db", empty):
        result = runner.invoke(app, ["restore", str(copy), "--database-url", f"sqlite:///{target}"])
        assert result.exit_code == 0, result.output
        assert (
            runner.invoke(app, ["verify", "--database-url", f"sqlite:///{target}"]).exit_code == 0
        )


def test_what_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    result = runner.invoke(app, ["restore", str(junk), "--database-url", target])
    assert result.exit_code == 1 and "not an intact SQLite database" in result.output
    missing = runner.invoke(
        app, ["restore", str(tmp_path / "nothing.db"), "--database-url", target]
    )
    assert missing.exit_code == 1 and "no backup file" in missing.output
    assert not (tmp_path / "target.db").exists()
    nothing = runner.invoke(app, ["backup", str(tmp_path / "b.db"), "--database-url", target])
    assert nothing.exit_code == 2 and "no worktrail store" in nothing.output
    assert not (tmp_path / "b.db").exists()


@pytest.mark.parametrize("command", [["backup", "out.dump"], ["restore", "out.dump"]])
def test_postgres_stores_are_pointed_to_their_own_tools(command: list[str]) -> None:
    url = "postgresql://worktrail:hunter2@db.internal/worktrail"
    result = runner.invoke(app, [*command, "--database-url", url])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "pg_dump" in said and "pg_restore" in said and "docs/operations.md" in said
    assert "hunter2" not in said


def test_a_postgres_store_round_trips_through_pg_dump_and_pg_restore(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available")
    name = f"wt_dump_{os.getpid()}"
    url = postgres_server.create_database(name, template="wt_template")
    restored_url = postgres_server.create_database(f"{name}_restored")
    store = open_store(Settings(url))
    try:
        created = create_organization(store, "Dumped", "O", "o@dumped.test")
        owner = store.get_entity(created.org_id, created.owner_id)
        assert owner is not None
        writer = Writer(store)
        for n in range(25):
            writer.create(principal_for_user(owner), EntityType.WORKSPACE, {"name": f"w{n}"})
        written = hashes(store, created.org_id)
    finally:
        store.close()
    dump = tmp_path / "worktrail.dump"
    subprocess.run(
        [find_postgres_binary("pg_dump"), "-Fc", "-f", str(dump), to_libpq_url(url)], check=True
    )
    subprocess.run(
        [
            find_postgres_binary("pg_restore"),
            "--no-owner",
            "-d",
            to_libpq_url(restored_url),
            str(dump),
        ],
        check=True,
    )
    restored = open_store(Settings(restored_url), create=False)
    try:
        assert verify_chain(restored, created.org_id).ok
        assert hashes(restored, created.org_id) == written
        assert len(written) > 25  # the organization's making and 25 workspaces
    finally:
        restored.close()
        postgres_server.drop_database(f"{name}_restored")
        postgres_server.drop_database(name)
