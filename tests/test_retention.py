"""Retention: expired events are removed, held ones stay, the history stays verifiable
(chain, tree, proofs), a second run changes nothing, and positions into what was pruned are
refused by the native API (410) and Asana (412 with a fresh sync token)."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.diff import now_micros
from worktrail.integrity.checkpoint import open_checkpoint
from worktrail.integrity.merkle import leaf_hash, verify_consistency, verify_inclusion
from worktrail.integrity.note import parse_verifier_keys
from worktrail.model.retention import DAY_MICROS
from worktrail.store import Store, open_store
from worktrail.store import schema as t
from worktrail.store.partitions import ensure_partitions
from worktrail.verify import verify_chain
from worktrail.worker import RetentionWorker
from worktrail.write import create_organization
from worktrail.write.retention import run_retention

from .conftest import Org, Tree, build_tree, make_settings, new_org

LATER = 400 * DAY_MICROS  # a run this far ahead finds every event older than 30 days


def events(org: Org, **params: Any) -> list[dict[str, Any]]:
    response = org.get("/api/v1/events", params={"order": "oldest", "limit": 1000, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def set_policy(org: Org, **policy: Any) -> dict[str, Any]:
    response = org.client.put("/api/v1/organization/retention", json=policy, headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hold(store: Store, org_id: int, scope_type: str, scope_id: int) -> None:
    """An active legal hold, as its own API writes it: an entity of type legal_hold."""
    state = {"scope_type": scope_type, "scope_id": scope_id, "reason": "litigation"}
    now = now_micros()
    with store.write_connection() as conn:
        conn.execute(
            insert(t.entities).values(
                org_id=org_id,
                type="legal_hold",
                container_id=None,
                external_id=None,
                state=orjson.dumps(state).decode(),
                deleted=False,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )


def expire(store: Store, at: int | None = None) -> int:
    reports = run_retention(store, now=(at or now_micros() + LATER))
    return sum(r.expired for r in reports)


def test_policy_is_read_and_set_by_admins_only(org: Org) -> None:
    assert org.get("/api/v1/organization/retention").json()["retention_days"] is None
    body = set_policy(org, retention_days=30, retention_subject_types={"comment": 7})
    assert body["retention_days"] == 30
    assert body["retention_subject_types"] == {"comment": 7}
    assert body["pruned_through"] == 0
    settings = org.get("/api/v1/organization/settings").json()["data"]
    assert settings["retention_days"] == 30
    bad = org.client.put(
        "/api/v1/organization/retention", json={"retention_days": 0}, headers=org.headers
    )
    assert bad.status_code == 422
    bad = org.client.put(
        "/api/v1/organization/retention",
        json={"retention_subject_types": {"sprint": 3}},
        headers=org.headers,
    )
    assert bad.status_code == 422
    _, member = org.user("Mia")
    assert (
        org.client.get(
            "/api/v1/organization/retention", headers={"Authorization": f"Bearer {member}"}
        ).status_code
        == 403
    )
    assert set_policy(org, retention_days=None)["retention_days"] is None


def test_expired_events_go_and_held_ones_stay(org: Org, tree: Tree) -> None:
    other = org.create("projects", name="Other", workspace=tree.workspace)
    org.create("tasks", name="Elsewhere", project=other["id"])
    before = events(org)
    hold(org.store, org.id, "project", tree.project)
    set_policy(org, retention_days=30)
    assert expire(org.store, now_micros()) == 0  # nothing is 30 days old yet
    removed = expire(org.store)
    kept = events(org)
    held = [e for e in before if f"project:{tree.project}" in e["scopes"]]
    assert [e["seq"] for e in kept] == [e["seq"] for e in held]
    assert removed == len(before) - len(held)
    assert removed > 0
    # the organization's own events and the workspace's are gone, the project's remain
    assert not any(e["subject"]["type"] == "workspace" for e in kept)


def test_an_organization_hold_keeps_everything(org: Org, tree: Tree) -> None:
    hold(org.store, org.id, "organization", org.id)
    set_policy(org, retention_days=30)
    count = len(events(org))
    assert expire(org.store) == 0
    assert len(events(org)) == count


def test_per_subject_type_retention_leaves_holes_that_verify(org: Org, tree: Tree) -> None:
    org.create("tasks", name="Between", project=tree.project)
    org.create("comments", task=tree.task, text="Second")
    org.create("tasks", name="After", project=tree.project)
    set_policy(org, retention_subject_types={"comment": 7})
    comments = [e["seq"] for e in events(org) if e["subject"]["type"] == "comment"]
    assert expire(org.store) == len(comments) == 2
    left = events(org)
    assert not any(e["subject"]["type"] == "comment" for e in left)
    assert left[0]["seq"] == 1  # nothing else went
    ranges = org.store.retention.ranges(org.id)
    assert [(r.first_seq, r.last_seq) for r in ranges] == [(s, s) for s in comments]
    result = verify_chain(org.store, org.id)
    assert result.ok, result.reason
    assert "2 more in 2 pruned run(s)" in result.pruned_summary()


def test_verify_reports_the_pruned_prefix_and_a_second_run_changes_nothing(
    org: Org, tree: Tree
) -> None:
    set_policy(org, retention_days=30)
    cut = now_micros()
    org.create("tasks", name="Recent", project=tree.project)  # recorded after the cut
    removed = expire(org.store, cut + 30 * DAY_MICROS)
    assert removed > 5
    assert [e["after"]["name"] for e in events(org)] == ["Recent"]
    result = verify_chain(org.store, org.id)
    assert result.ok, result.reason
    assert result.checked == 1
    assert f"events 1..{removed} pruned by retention on " in result.pruned_summary()
    assert expire(org.store, cut + 30 * DAY_MICROS) == 0
    assert org.store.retention.pruned_through(org.id) == removed
    assert verify_chain(org.store, org.id).ok
    # and a new event links to the kept history
    org.create("tasks", name="Later", project=tree.project)
    assert verify_chain(org.store, org.id).ok


def test_verify_catches_a_removed_event_that_was_not_pruned(org: Org, tree: Tree) -> None:
    set_policy(org, retention_subject_types={"comment": 7})
    expire(org.store)
    seq = events(org)[2]["seq"]
    with org.store.write_connection() as conn:
        conn.execute(t.events.delete().where(t.events.c.org_id == org.id, t.events.c.seq == seq))
    result = verify_chain(org.store, org.id)
    assert not result.ok
    assert result.first_bad_seq == seq


def test_proofs_and_consistency_hold_after_pruning(org: Org, tree: Tree) -> None:
    note = org.post("/api/v1/integrity/checkpoint").text
    keys = parse_verifier_keys(org.get("/api/v1/integrity/key").text)
    first = open_checkpoint(note, keys)
    set_policy(org, retention_days=30)
    cut = now_micros()
    for n in range(9):
        org.create("tasks", name=f"Kept {n}", project=tree.project)
    expire(org.store, cut + 30 * DAY_MICROS)
    second = open_checkpoint(org.post("/api/v1/integrity/checkpoint").text, keys)
    assert org.store.retention.pruned_through(org.id) == first.size
    response = org.get(
        "/api/v1/integrity/consistency", params={"first": first.size, "second": second.size}
    )
    assert response.status_code == 200, response.text
    path = [base64.b64decode(h) for h in response.json()["proof"]]
    verify_consistency(first.size, second.size, path, first.root, second.root)
    for event in events(org):
        body = org.get(f"/api/v1/events/{event['id']}/proof").json()
        assert body["tree_size"] == second.size
        leaf = leaf_hash(bytes.fromhex(event["hash"]))
        audit = [base64.b64decode(h) for h in body["audit_path"]]
        verify_inclusion(event["seq"] - 1, second.size, leaf, audit, second.root)
    assert verify_chain(org.store, org.id).ok


def test_a_pruned_cursor_gets_410_and_the_feed_says_how_far(org: Org, tree: Tree) -> None:
    first = org.get("/api/v1/events", params={"order": "oldest", "limit": 2}).json()
    assert first["pruned_through"] == 0
    stale = first["next_cursor"]
    set_policy(org, retention_days=30)
    cut = now_micros()
    org.create("tasks", name="Kept", project=tree.project)
    removed = expire(org.store, cut + 30 * DAY_MICROS)
    response = org.get("/api/v1/events", params={"order": "oldest", "limit": 2, "cursor": stale})
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 410
    assert problem["pruned_through"] == removed
    stream = org.get("/api/v1/events/stream", headers={"Last-Event-ID": stale})
    assert stream.status_code == 410
    fresh = org.get("/api/v1/events", params={"order": "oldest"})
    assert fresh.json()["pruned_through"] == removed
    assert fresh.headers["Worktrail-Pruned-Through"] == str(removed)
    assert [e["seq"] for e in fresh.json()["data"]] == [removed + 1]


def test_a_cursor_issued_after_pruning_pages_on(org: Org, tree: Tree) -> None:
    set_policy(org, retention_subject_types={"comment": 7})
    org.create("comments", task=tree.task, text="Second")
    for n in range(4):
        org.create("tasks", name=f"T{n}", project=tree.project)
    expire(org.store)
    time.sleep(1.1)  # cursors tell their issue time to the second
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"order": "oldest", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = org.get("/api/v1/events", params=params).json()
        seen += [e["seq"] for e in body["data"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert seen == [e["seq"] for e in events(org)]
    assert len(seen) > 4


def test_an_asana_sync_token_into_pruned_events_gets_412_and_a_fresh_token(
    org: Org, tree: Tree
) -> None:
    path = "/api/1.0/events"
    first = org.get(path, params={"resource": tree.project})
    assert first.status_code == 412
    sync = first.json()["sync"]
    org.create("tasks", name="Seen later", project=tree.project)
    set_policy(org, retention_days=30)
    expire(org.store)
    response = org.get(path, params={"resource": tree.project, "sync": sync})
    assert response.status_code == 412
    body = response.json()
    assert body["errors"][0]["message"].startswith("Sync token invalid or too old")
    assert "retention" in body["errors"][0]["help"]
    fresh = body["sync"]
    assert fresh != sync
    org.create("tasks", name="New", project=tree.project)
    follow = org.get(path, params={"resource": tree.project, "sync": fresh})
    assert follow.status_code == 200
    assert [e["resource"]["name"] for e in follow.json()["data"]] == ["New"]


def test_webhook_messages_of_pruned_events_go_too(org: Org, store: Store) -> None:
    build_tree(org)
    with store.write_connection() as conn:
        conn.execute(
            insert(t.webhook_messages).values(
                org_id=org.id,
                webhook_id=1,
                seq=2,
                state="delivered",
                attempts=1,
                next_attempt_at=0,
                lease=1,
                created_at=0,
            )
        )
    set_policy(org, retention_days=30)
    expire(store)
    with store.read() as conn:
        assert conn.execute(t.webhook_messages.select()).all() == []


def test_dry_run_removes_nothing(org: Org, tree: Tree) -> None:
    set_policy(org, retention_days=30)
    count = len(events(org))
    [report] = run_retention(org.store, now=now_micros() + LATER, dry_run=True)
    assert report.expired == count and report.dry_run
    assert len(events(org)) == count
    assert org.store.retention.ranges(org.id) == []


@pytest.mark.parametrize("batch", [1, 3])
def test_small_batches_give_one_pruned_prefix(org: Org, tree: Tree, batch: int) -> None:
    set_policy(org, retention_days=30)
    count = len(events(org))
    cut = now_micros() + LATER
    report = org.store.retention.expire(
        org.id, run_policy_cutoffs(org, cut), batch=batch, progress=None
    )
    assert report.expired == count
    ranges = org.store.retention.ranges(org.id)
    assert [(r.first_seq, r.last_seq) for r in ranges] == [(1, count)]
    assert verify_chain(org.store, org.id).ok


def run_policy_cutoffs(org: Org, at: int) -> Any:
    from worktrail.write.retention import policy_of

    return policy_of(org.store, org.id).cutoffs(at)


def test_the_readmes_retention_commands(tmp_path: Path) -> None:
    from .readme import bash_blocks, section
    from .test_readme import run_script, worktrail_on_path

    [commands] = bash_blocks(section("## Retention"))
    store = open_store(Settings(database_url=f"sqlite:///{tmp_path / 'worktrail.db'}"))
    store.migrate()
    created = create_organization(store, "Acme", "Ann", "ann@acme.test")
    store.close()
    out = run_script([commands], worktrail_on_path(tmp_path / "bin"), tmp_path)
    assert f"organization {created.org_id}: events kept 365 days; comment: 90 days" in out
    assert "nothing pruned yet" in out
    assert "would remove 0 events" in out
    assert "removed 0 events" in out


def age(store: Store, org_id: int, by: int) -> None:
    """Move the organization's events `by` microseconds back (their content hashes no longer
    match their recorded_at; retention never reads them). On PostgreSQL the scope rows move
    too, into the old month's partition."""
    postgres = store.dialect_name == "postgresql"
    with store.write_connection() as conn:
        if postgres:
            first = conn.scalar(text("SELECT min(recorded_at) FROM events"))
            ensure_partitions(conn, first - by, first)
        for table in ("events", "event_scopes") if postgres else ("events",):
            conn.execute(
                text(f"UPDATE {table} SET recorded_at = recorded_at - :by WHERE org_id = :o"),
                {"by": by, "o": org_id},
            )


def test_serve_runs_the_retention_job(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, retention_interval_minutes=1)
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store)) as client:
            org = new_org(store, client)
            build_tree(org)
            set_policy(org, retention_days=30)
            age(store, org.id, 60 * DAY_MICROS)
            assert "retention_worker" in client.get("/readyz").json()["checks"]
        # the job's first round runs as the app starts; a restart starts another
        with TestClient(create_app(settings, store)) as client:
            deadline = time.monotonic() + 20
            while store.count_events(org.id):
                assert time.monotonic() < deadline, "the job removed nothing"
                time.sleep(0.1)
        assert store.retention.pruned_through(org.id) > 5
        assert not RetentionWorker(store, make_settings(database_url)).enabled
    finally:
        store.close()


def test_the_web_uis_pages_refuse_a_cursor_into_pruned_events(org: Org, tree: Tree) -> None:
    from .test_ui import sign_in

    browser = sign_in(TestClient(org.client.app, raise_server_exceptions=False), org.token)
    for n in range(30):
        org.create("tasks", name=f"T{n}", project=tree.project)
    page = browser.get("/")
    older = re.search(r'href="([^"]+)" rel="next"', page.text)
    assert older is not None
    link = older[1].replace("&amp;", "&")
    assert browser.get(link).status_code == 200  # before retention: the older page
    set_policy(org, retention_days=30)
    cut = now_micros()
    org.create("tasks", name="Kept", project=tree.project)
    removed = expire(org.store, cut + 30 * DAY_MICROS)
    assert removed > 30
    refused = browser.get(link)
    assert refused.status_code == 410
    assert "retention" in refused.text and "<html" in refused.text
    browser.app.state.ui.integrity.wait()  # type: ignore[attr-defined]
    browser.app.state.ui.tallies.wait()  # type: ignore[attr-defined]
