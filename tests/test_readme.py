"""The README tells the truth: its commands run, its settings table matches the code."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from worktrail.config import SETTINGS
from worktrail.testing.postgres import PostgresServer
from worktrail.testing.server import serve

from .live import printed_token
from .readme import README, ROOT, bash_blocks, not_run_blocks, section
from .receiver import Received, Receiver, receiver


def blocks(heading: str) -> list[str]:
    return bash_blocks(section(heading))


def test_every_setting_is_documented() -> None:
    for setting in SETTINGS:
        row = f"| `{setting.name}` | `{setting.env}` |"
        assert row in README, f"README configuration table lacks {setting.name}"


def test_quick_start_commands_match_ci() -> None:
    run_cmd, test_cmd = bash_blocks(section("## Quick start"), not_run=True)
    assert "worktrail serve --demo" in run_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    # CI runs the README's line itself, whole, in a fresh virtualenv
    assert f'TEST_CMD="{test_cmd.strip()}"' in ci


def headings_the_tests_read() -> set[str]:
    """Every README heading a test module names (a string literal that begins one): the
    tests run the shell blocks of those sections."""
    outside_code = re.sub(r"```.*?```", "", README, flags=re.S)
    headings = [line for line in outside_code.splitlines() if re.match(r"#{1,6} ", line)]
    found: set[str] = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and re.match(r"#{1,6} \S", value):
                found.update(value for line in headings if line.startswith(value))
    return found


def test_every_shell_example_is_run_or_says_why_not() -> None:
    run = {code for heading in headings_the_tests_read() for code in blocks(heading)}
    left_out = not_run_blocks()
    for code in bash_blocks(README, not_run=True):
        if code in left_out:
            assert len(left_out[code]) > 10, f"say why this block is not run:\n{code}"
        else:
            assert code in run, f"no test runs this README block; run it or say why not:\n{code}"
    assert len(left_out) <= 5, "most examples should run"


def worktrail_on_path(bin_dir: Path) -> dict[str, str]:
    """The environment of a README block: `worktrail` is this checkout's command, and no
    database URL is set, so that the commands find the store as a reader's shell would."""
    bin_dir.mkdir()
    command = bin_dir / "worktrail"
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m worktrail.cli "$@"\n')
    command.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKTRAIL_")}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}


def run_script(blocks: list[str], env: dict[str, str], cwd: Path) -> str:
    # no pipefail: `curl … | head` legitimately ends with a closed pipe
    script = "set -eu\n" + "\n".join(blocks)
    # every curl must succeed on HTTP status too
    script = script.replace("curl -s ", "curl -sf ")
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_api_tour_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    tour = blocks("## A tour of the native API")
    assert any("worktrail tail" in block for block in tour)
    env = worktrail_on_path(tmp_path / "bin")
    # the quick start's store: ./worktrail.db where the server runs
    url = f"sqlite:///{tmp_path / 'worktrail.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "3000") as server:
        script = [block.replace("http://127.0.0.1:8000", server.base_url) for block in tour]
        out = run_script(script, {**env, "TOKEN": printed_token(server.output())}, tmp_path)
    assert '"action":"closed"' in out
    assert '"status":"recorded"' in out
    assert (tmp_path / "project-history.csv").read_text().startswith("id,seq,occurred_at")
    # tail's lines: seq, when, who, what (the JSON printed before has no final newline)
    tailed = re.findall(r"\s\d+ \d{4}-\d\d-\d\dT[\d:.]+Z .*", out)
    assert len(tailed) == 5, out[-2000:]
    assert "created   project" in tailed[0]  # the project's history begins with the project
    local, remote = tmp_path / "project-local.csv", tmp_path / "project-remote.csv"
    assert local.read_bytes() == remote.read_bytes()
    assert local.read_text().startswith("id,seq,occurred_at")
    assert "Write release notes" in local.read_text()  # the tour's own task


@pytest.mark.slow
def delivered(hooks: Receiver, count: int) -> tuple[list[Received], list[Received]]:
    """The deliveries of the webhook example's change once `count` have come, and all
    that came."""
    deadline = time.monotonic() + 30
    while True:
        with hooks.lock:
            got = list(hooks.requests)
        changes = [r for r in got if b"Checked by the webhook example" in r.body]
        if len(changes) >= count:
            return changes, got
        assert time.monotonic() < deadline, f"{len(changes)} deliveries of the change"
        time.sleep(0.1)


def test_webhooks_section_delivers_and_its_receiver_code_verifies(tmp_path: Path) -> None:
    [commands] = blocks("## Webhooks")
    [verify] = re.findall(r"```python\n(.*?)```", section("## Webhooks"), re.S)
    env = worktrail_on_path(tmp_path / "bin")
    url = f"sqlite:///{tmp_path / 'worktrail.db'}"
    with (
        receiver() as hooks,
        serve(url, tmp_path, "--demo", "--demo-events", "3000") as server,
    ):
        script = commands.replace("http://127.0.0.1:9000/hooks", hooks.url)
        script = script.replace("http://127.0.0.1:8000", server.base_url)
        # run as a reader would, a step at a time: the replay comes after the change was
        # delivered (a replay before that delivers it once, which is all it owes then)
        first, replay = script.split("# deliver again")
        env = {**env, "TOKEN": printed_token(server.output())}
        out = run_script([first, 'echo; echo "ids $HOOK_ID $TASK"'], env, tmp_path)
        secret = out.splitlines()[0]
        assert secret.startswith("whsec_")
        _, hook_id, task = out.splitlines()[-1].split()
        delivered(hooks, 1)
        run_script(
            ["# deliver again" + replay], {**env, "HOOK_ID": hook_id, "TASK": task}, tmp_path
        )
        # the task's change and the ping (in either order); the replay sends the change
        # again, with the same webhook-id
        changes, got = delivered(hooks, 2)
        assert len({r.headers["webhook-id"] for r in changes}) == 1
    pings = [r for r in got if b'"type":"ping"' in r.body]
    assert len(pings) == 1 and len(got) == 3
    for delivery in changes:
        names: dict[str, object] = {
            "secret": secret,
            "body": delivery.body,
            "headers": delivery.headers,
        }
        exec(verify, names)  # the README's receiver code, as a receiver runs it
    tampered = {"secret": secret, "body": changes[0].body + b" ", "headers": changes[0].headers}
    with pytest.raises(WebhookVerificationError):
        exec(verify, tampered)


def test_running_on_postgresql(postgres_server: PostgresServer | None, tmp_path: Path) -> None:
    [setup] = blocks("## Running on PostgreSQL")
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available")
    name = f"wt_readme_{os.getpid()}"
    url = postgres_server.create_database(name)  # empty, as a new server's database is
    try:
        script = setup.replace("postgresql://worktrail@db.internal/worktrail", url)
        assert script != setup
        env = worktrail_on_path(tmp_path / "bin")
        out = run_script([script], env, tmp_path)
        assert "Schema upgraded from empty to" in out
        assert printed_token(out).startswith("wt_")
        listed = subprocess.run(
            ["worktrail", "org", "list", "--database-url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0 and "Acme" in listed.stdout
        assert list(tmp_path.iterdir()) == [tmp_path / "bin"]  # no SQLite file on the side
    finally:
        postgres_server.drop_database(name)
