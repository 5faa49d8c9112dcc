"""The worktrail command as an operator uses it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.testing.server import serve

from .live import printed_token

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_migrate_org_tokens_verify(database_url: str) -> None:
    db = ["--database-url", database_url]
    assert "Schema is up to date" in run("migrate", *db)
    token = printed_token(
        run(
            "org",
            "create",
            "--name",
            "Initech",
            "--owner-name",
            "Bill",
            "--owner-email",
            "bill@initech.test",
            *db,
        )
    )
    assert token.startswith("wt_")
    assert "Initech" in run("org", "list", *db)
    second = printed_token(run("token", "create", "--name", "ci", *db))
    listing = run("token", "list", *db)
    assert "ci" in listing and second not in listing  # secrets are never shown again
    assert "revoked" in run("token", "revoke", "2", *db)
    assert "already revoked" in run("token", "revoke", "2", *db)  # idempotent
    assert runner.invoke(app, ["token", "revoke", "9", *db]).exit_code == 1  # no such token
    assert "OK: 2 events" in run("verify", *db)
    key = run("org", "api-key", *db).strip()
    rotated = run("org", "api-key", "--rotate", *db).strip()
    assert len(key) == 32 and rotated != key


def test_verify_detects_tampering(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'v.db'}"
    run(
        "org",
        "create",
        "--name",
        "T",
        "--owner-name",
        "O",
        "--owner-email",
        "o@t.test",
        "--database-url",
        url,
    )
    with sqlite3.connect(tmp_path / "v.db") as conn:
        conn.execute("UPDATE events SET data = replace(data, 'o@t.test', 'x@t.test') WHERE seq = 2")
    result = runner.invoke(app, ["verify", "--database-url", url])
    assert result.exit_code == 1 and "BROKEN at seq 2" in result.output


def test_tail_refuses_a_scope_that_names_nothing(database_url: str) -> None:
    db = ["--database-url", database_url]
    run("org", "create", "--name", "T", "--owner-name", "O", "--owner-email", "o@t.test", *db)
    # entity 2 is the owner, a user: no project of that id
    for scope in ("project:2", "task:999999"):
        result = runner.invoke(app, ["tail", "--scope", scope, "--max-events", "1", *db])
        assert result.exit_code == 2 and "does not exist" in result.output, result.output
    followed = runner.invoke(
        app, ["tail", "--scope", "user:2", "--from-start", "--max-events", "1", *db]
    )
    assert followed.exit_code == 0 and "created   user:2" in followed.output, followed.output


def test_bad_database_url_is_a_clear_error() -> None:
    result = runner.invoke(app, ["migrate", "--database-url", "mysql://nope"])
    assert result.exit_code == 2 and "sqlite:///" in result.output


def test_serve_demo_and_tail_follow_new_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "2000") as server:
        token = printed_token(server.output())
        headers = {"Authorization": f"Bearer {token}"}
        events = httpx.get(server.base_url + "/api/v1/events?limit=5", headers=headers)
        assert events.status_code == 200 and len(events.json()["data"]) == 5
        assert httpx.get(server.base_url + "/docs").status_code == 200
        assert httpx.get(server.base_url + "/openapi.json").json()["info"]["title"] == "worktrail"
        project = httpx.get(server.base_url + "/api/v1/projects?limit=1", headers=headers)
        project_id = project.json()["data"][0]["id"]

        tail = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "worktrail.cli",
                "tail",
                "--database-url",
                url,
                "--max-events",
                "3",
                "--interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # tail starts at the head: only events committed once it says where it starts
        assert tail.stderr is not None
        started = tail.stderr.readline()
        assert started.startswith("following every event after seq"), started

        def write() -> None:
            for i in range(3):
                httpx.post(
                    server.base_url + "/api/v1/tasks",
                    json={"name": f"tailed {i}", "project": project_id},
                    headers=headers,
                ).raise_for_status()

        stream_lines: list[str] = []

        def listen() -> None:
            with httpx.stream(
                "GET", server.base_url + "/api/v1/events/stream", headers=headers, timeout=30
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        stream_lines.append(line)
                        if len(stream_lines) == 3:
                            return

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(1)
        writer = threading.Thread(target=write)
        writer.start()
        out, err = tail.communicate(timeout=60)
        writer.join()
        listener.join(timeout=30)
    names = [orjson.loads(line[6:])["after"]["name"] for line in stream_lines]
    assert names == ["tailed 0", "tailed 1", "tailed 2"]
    lines = out.strip().splitlines()
    assert stream_lines, "the SSE stream delivered nothing"
    assert len(lines) == 3, out + err
    assert all("created" in line and "tailed" in line for line in lines)
    assert "resume with --cursor" in err


def test_serve_with_workers_keeps_seq_gapless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    token = printed_token(
        run(
            "org",
            "create",
            "--name",
            "W",
            "--owner-name",
            "O",
            "--owner-email",
            "o@w.test",
            "--database-url",
            url,
        )
    )
    headers = {"Authorization": f"Bearer {token}"}
    with serve(url, tmp_path, "--workers", "2") as server:
        ws = httpx.post(server.base_url + "/api/v1/workspaces", json={"name": "W"}, headers=headers)
        ws_id = ws.json()["data"]["id"]

        def write(i: int) -> None:
            with httpx.Client(base_url=server.base_url, headers=headers) as client:
                for j in range(10):
                    client.post(
                        "/api/v1/projects", json={"name": f"p{i}-{j}", "workspace": ws_id}
                    ).raise_for_status()

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events = httpx.get(
            server.base_url + "/api/v1/events?order=oldest&limit=1000", headers=headers
        ).json()["data"]
    assert [e["seq"] for e in events] == list(range(1, 44))
    assert "OK: 43 events" in run("verify", "--database-url", url)


def test_bench_runs_the_suite_of_the_checkout() -> None:
    # `worktrail bench` hands its arguments to `python -m bench` in the checkout
    result = subprocess.run(
        [sys.executable, "-m", "worktrail.cli", "bench", "--figures", "nonsense"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown figures: nonsense" in result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "worktrail.cli", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "--figures" in shown.stdout
