"""`worktrail witness` against a real `worktrail serve` on loopback: it follows a growing
log, and raises the alarm, exiting non-zero, when the server's store is made to fork its
history or roll it back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.config import Settings
from worktrail.integrity.note import VerifierKey
from worktrail.store import Store, open_store
from worktrail.testing.server import LiveServer, serve

from . import tamper
from .live import printed_token

runner = CliRunner()


@dataclass
class Log:
    server: LiveServer
    store: Store  # the server's store, as an insider reaches it
    token: str
    org_id: int
    tmp: Path

    def call(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = httpx.request(method, self.server.base_url + path, headers=headers, **kw)  # type: ignore[arg-type]
        assert response.status_code < 300, response.text
        return response

    def grow(self, events: int) -> None:
        for n in range(events):
            self.call("POST", "/api/v1/workspaces", json={"name": f"Team {n}"})

    def checkpoint(self) -> int:
        return int(self.call("POST", "/api/v1/integrity/checkpoint").text.split("\n")[1])

    def witness(self) -> tuple[int, str]:
        key = self.call("GET", "/api/v1/integrity/key").text.splitlines()[0]
        args = ["witness", self.server.base_url, "--key", key, "--token", self.token]
        result = runner.invoke(app, [*args, "--state", str(self.tmp / "state"), "--once"])
        return result.exit_code, result.output


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    owner = ["--owner-name", "Ann", "--owner-email", "a@acme.test"]
    created = runner.invoke(app, ["org", "create", "--name", "Acme", *owner, "--database-url", url])
    assert created.exit_code == 0, created.output
    store = open_store(Settings(database_url=url))
    with serve(url, tmp_path) as server:
        yield Log(server, store, printed_token(created.output), store.list_orgs()[0].id, tmp_path)
    store.close()


def test_the_witness_follows_a_growing_log_and_catches_a_fork(log: Log) -> None:
    first = log.checkpoint()
    code, out = log.witness()
    assert code == 0 and f"first checkpoint seen, tree size {first}" in out, out
    log.grow(3)
    second = log.checkpoint()
    code, out = log.witness()
    assert code == 0 and f"tree size {first} → {second}, consistent" in out, out
    assert log.witness()[0] == 0  # nothing new
    # an insider rewrites an event, rebuilds chain and tree, and the server signs anew
    tamper.rewrite(log.store, log.org_id, 2, "client_ip", "10.6.6.6")
    assert log.checkpoint() == second
    code, out = log.witness()
    assert code == 1, out
    assert "ALARM: split view: worktrail/" in out and f"two different trees of size {second}" in out
    evidence = list((log.tmp / "state").glob("*/evidence-*.checkpoint"))
    assert len(evidence) == 1 and evidence[0].read_text().startswith("worktrail/")


def test_the_witness_catches_a_rollback_and_a_history_grown_anew(log: Log) -> None:
    first = log.checkpoint()
    assert log.witness()[0] == 0
    log.grow(3)
    second = log.checkpoint()
    assert log.witness()[0] == 0
    # the insider cuts the history back, with its checkpoints: the server serves an older one
    tamper.truncate(log.store, log.org_id, first, tidy=True)
    code, out = log.witness()
    assert code == 1, out
    assert (
        "ALARM: rollback: worktrail/" in out and f"from tree size {second} back to {first}" in out
    )
    # and grows it again past what was seen, with other events: not an extension of it
    log.grow(5)
    third = log.checkpoint()
    assert third > second
    code, out = log.witness()
    assert code == 1, out
    assert f"at tree size {third} does not extend the tree of size {second}" in out


def test_the_witness_refuses_a_checkpoint_by_another_key(log: Log) -> None:
    log.checkpoint()
    key = log.call("GET", "/api/v1/integrity/key").text
    name = VerifierKey.parse(key).name
    impostor = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    args = ["witness", log.server.base_url, "--token", log.token, "--once"]
    other = VerifierKey(name, impostor).line()
    result = runner.invoke(app, [*args, "--key", other, "--state", str(log.tmp / "s")])
    assert result.exit_code == 1, result.output
    assert "ALARM: the server's checkpoint does not verify with the key given" in result.output
    malformed = runner.invoke(app, [*args, "--key", other[:-4], "--state", str(log.tmp / "s")])
    assert malformed.exit_code == 2
    args = ["witness", "http://127.0.0.1:9", "--key", key, "--once"]
    unreachable = runner.invoke(app, [*args, "--state", str(log.tmp / "s")])
    assert unreachable.exit_code == 3 and "cannot check now" in unreachable.output
