"""`worktrail export`: the API's bytes, from the local store or a server, filtered alike."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from worktrail.api import events as api_events
from worktrail.cli import app
from worktrail.config import Settings
from worktrail.demo import build_demo
from worktrail.diff import micros_to_iso
from worktrail.store import open_store
from worktrail.testing.postgres import PostgresServer
from worktrail.testing.server import LiveServer, serve

from .conftest import BACKENDS
from .live import printed_token

runner = CliRunner()
ACCEPT = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
LATER = "2100-01-01T00:00:00Z"


@dataclass
class Demo:
    """A live server on a small demo organization, and what the tests filter by."""

    server: LiveServer
    token: str
    url: str  # the database
    project: int
    actor: int
    middle: str  # an occurred_at half-way through the history

    def api(self, fmt: str, params: Sequence[tuple[str, str]]) -> bytes:
        """What GET /api/v1/events streams for these parameters."""
        response = httpx.get(
            self.server.base_url + "/api/v1/events",
            params=tuple(params),
            headers={"Authorization": f"Bearer {self.token}", "Accept": ACCEPT[fmt]},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.content

    def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(self.server.base_url + path, headers=headers).json()


@pytest.fixture(scope="module", params=BACKENDS)
def demo(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[Demo]:
    """One demo server per database for the module: the tests only read."""
    tmp = tmp_path_factory.mktemp("export")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp / "demo.db")
        database_url = f"sqlite:///{tmp / 'demo.db'}"
    else:
        postgres: PostgresServer | None = request.getfixturevalue("postgres_server")
        if postgres is None:
            pytest.skip("PostgreSQL is not available")
        database_url = postgres.create_database(f"wt_export_{os.getpid()}", "wt_template")
    with serve(database_url, tmp, "--demo", "--demo-events", "600") as server:
        token = printed_token(server.output())
        partial = Demo(server, token, database_url, 0, 0, "")
        project = partial.get("/api/v1/projects?limit=1")["data"][0]["id"]
        events = partial.get("/api/v1/events?order=oldest&limit=1000")["data"]
        actor = next(e["actor"]["id"] for e in events[len(events) // 2 :] if e["actor"])
        middle = events[len(events) // 2]["occurred_at"]
        yield Demo(server, token, database_url, project, actor, middle)
    if request.param != "sqlite":
        request.getfixturevalue("postgres_server").drop_database(f"wt_export_{os.getpid()}")


def export(*args: str, exit_code: int = 0) -> str:
    result = runner.invoke(app, ["export", *args])
    assert result.exit_code == exit_code, result.output
    return result.output


def both_ways(demo: Demo, tmp_path: Path, name: str, options: list[str]) -> tuple[bytes, bytes]:
    """The export of `options` from the local store and from the server."""
    local, remote = tmp_path / f"local-{name}", tmp_path / f"remote-{name}"
    export(*options, "--database-url", demo.url, "-o", str(local))
    export(*options, "--url", demo.server.base_url, "--token", demo.token, "-o", str(remote))
    return local.read_bytes(), remote.read_bytes()


def test_local_and_remote_exports_are_the_api_bytes(demo: Demo, tmp_path: Path) -> None:
    scope = ["--scope", f"project:{demo.project}"]
    actor = ["--actor", str(demo.actor)]
    cases: list[tuple[str, list[str], list[tuple[str, str]]]] = [
        ("all.csv", [], []),
        ("all.ndjson", [], []),
        (
            "project.csv",
            [
                *scope,
                *["--subject-type", "task,comment", "--action", "created"],
                *["--action", "updated", "--order", "oldest"],
            ],
            [
                ("scope", scope[1]),
                *[("subject_type", "task,comment"), ("action", "created")],
                *[("action", "updated"), ("order", "oldest")],
            ],
        ),
        (
            "actor.jsonl",
            [*actor, "--occurred-after", demo.middle, "--occurred-before", LATER],
            [("actor", actor[1]), ("occurred_after", demo.middle), ("occurred_before", LATER)],
        ),
        (
            "no-descendants",
            [*scope, "--no-descendants", "--format", "csv"],
            [("scope", scope[1]), ("descendants", "false")],
        ),
    ]
    full = demo.api("ndjson", [])
    for name, options, params in cases:
        fmt = "csv" if name.endswith("csv") or "csv" in options else "ndjson"
        api = demo.api(fmt, params)
        local, remote = both_ways(demo, tmp_path, name, options)
        assert local == api, name
        assert remote == api, name
        assert api.strip(), name
        if fmt == "csv":
            assert api.startswith(b"id,seq,occurred_at"), name
        if params:
            assert len(api) < len(full), name  # the filters filtered
    exported = (tmp_path / "local-actor.jsonl").read_bytes().splitlines()
    actor_lines = [orjson.loads(line) for line in exported]
    assert {e["actor"]["id"] for e in actor_lines} == {demo.actor}
    assert all(e["occurred_at"] >= demo.middle for e in actor_lines)


def test_stdout_and_the_default_format(demo: Demo, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--database-url", demo.url, "--action", "closed"])
    assert result.exit_code == 0
    lines = result.stdout_bytes.splitlines()
    assert lines and all(orjson.loads(line)["action"] == "closed" for line in lines)
    assert result.stdout_bytes == demo.api("ndjson", [("action", "closed")])


BAD_FILTERS = [
    (["--scope", "project"], "--scope must look like TYPE:ID"),
    (["--subject-type", "planet"], "--subject-type must be among"),
    (["--action", "closd"], "--action must be among"),
    (["--actor", "ann"], "--actor must be a comma-separated list of ids"),
    (["--occurred-after", "yesterday"], "--occurred-after must be an ISO-8601 date-time"),
    (
        ["--occurred-after", "2026-02-01T00:00:00Z", "--occurred-before", "2026-01-01T00:00:00Z"],
        "--occurred-after must be earlier than --occurred-before",
    ),
    (["--order", "sideways"], "--order must be newest or oldest"),
    (["--format", "json"], "--format must be csv or ndjson"),
]


@pytest.mark.parametrize(("options", "message"), BAD_FILTERS, ids=lambda v: str(v))
def test_a_bad_filter_is_refused_before_anything_is_read(
    tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "out.csv"
    nowhere = f"sqlite:///{tmp_path / 'none.db'}"
    for where in (["--database-url", nowhere], ["--url", "http://127.0.0.1:9", "--token", "t"]):
        said = export(*options, *where, "-o", str(out), exit_code=2)
        assert message in " ".join(said.split()), said
    assert list(tmp_path.iterdir()) == []  # no store made, no file written


def test_what_only_the_store_or_server_can_refuse(demo: Demo, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.csv"
    gone = ["--scope", "project:999999", "-o", str(out)]
    said = export(*gone, "--database-url", demo.url, exit_code=2)
    assert "project 999999 does not exist" in said
    remote = ["--url", demo.server.base_url, "--token", demo.token]
    said = export(*gone, *remote, exit_code=2)
    assert "the server answered 404" in said and "project 999999 does not exist" in said
    said = export("--url", demo.server.base_url, "--token", "wt_nope", exit_code=2)
    assert "the server answered 401" in said
    said = export("--org", "77", "--database-url", demo.url, exit_code=2)
    assert "organization 77 does not exist" in said
    said = export("--url", demo.server.base_url, "--database-url", demo.url, exit_code=2)
    assert "leave out --database-url" in said
    assert "needs --token" in export("--url", demo.server.base_url, exit_code=2)
    assert list(out.parent.iterdir()) == []


def test_an_unreachable_server_fails_without_leaving_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    said = export("--url", "http://127.0.0.1:9", "--token", "t", "-o", str(out), exit_code=1)
    assert "cannot export from 127.0.0.1" in said
    for url in ("127.0.0.1:8000", "http://[::1"):
        said = export("--url", url, "--token", "t", "-o", str(out), exit_code=2)
        assert "--url" in said
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_destination_is_named(demo: Demo, tmp_path: Path) -> None:
    said = export("--database-url", demo.url, "-o", str(tmp_path / "no" / "x.csv"), exit_code=1)
    assert f"cannot write {tmp_path / 'no' / 'x.csv'}: No such file or directory" in said
    with open("/dev/full", "wb") as full:
        command = [sys.executable, "-m", "worktrail.cli", "export", "--database-url", demo.url]
        result = subprocess.run(command, stdout=full, capture_output=False, stderr=subprocess.PIPE)
    assert result.returncode == 1
    assert b"cannot write stdout: No space left on device" in result.stderr


def test_the_progress_bar_on_a_terminal(demo: Demo, tmp_path: Path) -> None:
    """With stderr on a terminal, a bar counts the events written against the total."""
    total = len(demo.api("ndjson", []).splitlines())
    primary, secondary = pty.openpty()
    out = tmp_path / "history.csv"
    command = [sys.executable, "-m", "worktrail.cli", "export", "--database-url", demo.url]
    process = subprocess.run(
        [*command, "-o", str(out)], stderr=secondary, stdout=subprocess.DEVNULL, timeout=120
    )
    os.close(secondary)
    shown = read_all(primary)
    assert process.returncode == 0
    assert "Exporting events" in shown and f"{total}/{total}" in shown, shown
    assert out.read_bytes() == demo.api("csv", [])
    # not on a terminal: nothing but the data
    quiet = subprocess.run([*command, "--action", "closed"], capture_output=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == b"" and quiet.stdout


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end is closed: all is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_memory_stays_flat_however_many_events(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export holds a few chunks, never the history: exporting four times the events
    takes no more memory, and far less than the file it writes."""
    path = tmp_path / "big.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    store = open_store(Settings(database_url=url))
    built = build_demo(store, events=12_000)
    quarter = store.get_event(built.org_id, built.event_count // 4)
    store.close()
    assert quarter is not None
    first_quarter = ["--occurred-before", micros_to_iso(quarter.occurred_at)]
    monkeypatch.setattr(api_events, "EXPORT_CHUNK", 100)  # far fewer than the events
    with serve(url, tmp_path, "--demo") as server:
        token = printed_token(server.output())
        for source in (["--database-url", url], ["--url", server.base_url, "--token", token]):
            export(*source, "--subject-type", "organization")  # imports done before measuring
            part, whole = tmp_path / "part.ndjson", tmp_path / "whole.ndjson"
            part_peak = export_peak(*source, *first_quarter, "-o", str(part))
            peak = export_peak(*source, "-o", str(whole))
            size = whole.stat().st_size
            assert len(whole.read_bytes().splitlines()) == built.event_count
            assert size > 3.5 * part.stat().st_size and size > 10_000_000
            assert peak < 1.5 * part_peak, (source, peak, part_peak)
            assert peak < size / 3, (source, peak, size)


def export_peak(*args: str) -> int:
    """The most memory Python held at once while `worktrail export ARGS` ran, in bytes."""
    tracemalloc.start()
    try:
        export(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
