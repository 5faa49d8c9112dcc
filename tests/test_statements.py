"""What a native history page costs the database: authentication, authorization of its
scope and the page itself, at most three statements on either database, whoever asks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from worktrail.store import Store

from .conftest import Org, Tree

MAX_STATEMENTS = 3


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store's engines execute meanwhile."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engines = {id(e): e for e in (store.reader, store.writer)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def member(org: Org, tree: Tree) -> dict[str, str]:
    """A member of the tree's workspace (and of another one, so that visibility filters)."""
    user_id, token = org.user("Mia Member")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [user_id]})
    other = org.create("workspaces", name="Ops", members=[user_id])
    org.create("projects", name="Runbooks", workspace=other["id"])
    headers = {"Authorization": f"Bearer {token}"}
    # A token's first use records it (a write, then at most one a minute; see below), so
    # the pages measured here are those of a token in use.
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200
    return headers


@pytest.mark.parametrize("who", ["owner", "member"])
def test_a_scoped_page_with_a_cursor_costs_three_statements(
    org: Org, tree: Tree, member: dict[str, str], who: str
) -> None:
    headers = org.headers if who == "owner" else member
    params = {"scope": f"project:{tree.project}", "limit": "2", "subject_type": "task,comment"}
    first = org.client.get("/api/v1/events", params=params, headers=headers)
    assert first.status_code == 200 and first.json()["has_more"], first.text
    with statements(org.store) as seen:
        second = org.client.get(
            "/api/v1/events",
            params={**params, "cursor": first.json()["next_cursor"]},
            headers=headers,
        )
    assert second.status_code == 200, second.text
    assert second.json()["data"], "the page is not empty"
    assert 1 <= len(seen) <= MAX_STATEMENTS, seen


@pytest.mark.parametrize("who", ["owner", "member"])
def test_an_entity_history_costs_three_statements(
    org: Org, tree: Tree, member: dict[str, str], who: str
) -> None:
    headers = org.headers if who == "owner" else member
    with statements(org.store) as seen:
        response = org.client.get(
            f"/api/v1/tasks/{tree.task}/events", params={"limit": 5}, headers=headers
        )
    assert response.status_code == 200 and response.json()["data"], response.text
    assert len(seen) <= MAX_STATEMENTS, seen


def test_an_unscoped_page_costs_two(org: Org, tree: Tree, member: dict[str, str]) -> None:
    for headers in (org.headers, member):
        with statements(org.store) as seen:
            response = org.client.get("/api/v1/events", params={"limit": 5}, headers=headers)
        assert response.status_code == 200 and response.json()["data"], response.text
        assert len(seen) <= 2, seen


def test_a_member_is_refused_another_workspaces_scope_in_two(
    org: Org, tree: Tree, member: dict[str, str]
) -> None:
    hidden = org.create("workspaces", name="Board", members=[org.owner_id])
    with statements(org.store) as seen:
        response = org.client.get(
            "/api/v1/events", params={"scope": f"workspace:{hidden['id']}"}, headers=member
        )
    assert response.status_code == 404, response.text
    assert len(seen) == 2, seen


def test_a_tokens_use_is_recorded_at_most_once_a_minute(
    org: Org, tree: Tree, member: dict[str, str]
) -> None:
    """Authentication stays one read; the UPDATE of last_used_at comes only when the time
    on record is a minute old, and then once."""
    services = org.services
    start = services.clock()
    [before] = [t for t in org.store.list_tokens(org.id) if t.user_id != org.owner_id]
    assert before.last_used_at is not None
    page = {"limit": 5}
    with statements(org.store) as seen:
        for _ in range(3):
            assert org.client.get("/api/v1/events", params=page, headers=member).status_code == 200
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")], seen
    services.clock = lambda: start + 61_000_000
    with statements(org.store) as seen:
        for _ in range(3):
            assert org.client.get("/api/v1/events", params=page, headers=member).status_code == 200
    updates = [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "api_tokens" in updates[0], seen
    [after] = [t for t in org.store.list_tokens(org.id) if t.id == before.id]
    assert after.last_used_at == start + 61_000_000
