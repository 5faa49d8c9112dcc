"""Property-based: whatever a client sends, the API answers 2xx or a 4xx problem+json."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Org, Tree

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAMS = [
    "scope",
    "descendants",
    "subject_type",
    "action",
    "actor",
    "occurred_after",
    "occurred_before",
    "order",
    "limit",
    "cursor",
    "format",
    "bogus",
]
text = st.text(max_size=40)
values = st.one_of(
    text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "project:1",
            "task:99999999999999999999",
            "true",
            "false",
            "oldest",
            "2026-01-01T00:00:00Z",
            "csv",
            "ndjson",
            "",
            "0",
            "1000",
            "1001",
        ]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66).map(str),
    st.text(alphabet="abc-_%.0123456789", min_size=1, max_size=12),
)


def assert_problem_or_ok(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        body = response.json()
        assert body["status"] == response.status_code
        assert body["title"] and body["detail"] and body["type"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6))
def test_event_queries(org: Org, tree: Tree, params: list[tuple[str, str]]) -> None:
    assert_problem_or_ok(org.get("/api/v1/events", params=params))


@FUZZ
@given(st.sampled_from(["tasks", "projects", "comments", "workspaces", "users"]), json_values)
def test_entity_bodies(org: Org, tree: Tree, kind: str, body: Any) -> None:
    assert_problem_or_ok(org.post(f"/api/v1/{kind}", json=body))
    entity_id = {
        "tasks": tree.task,
        "projects": tree.project,
        "comments": tree.comment,
        "workspaces": tree.workspace,
        "users": org.owner_id,
    }[kind]
    assert_problem_or_ok(org.patch(f"/api/v1/{kind}/{entity_id}", json=body))


@FUZZ
@given(json_values)
def test_ingest_bodies(org: Org, tree: Tree, records: Any) -> None:
    assert_problem_or_ok(org.post("/api/v1/changes", json={"records": records}))
    assert_problem_or_ok(org.post("/api/v1/changes", json={"records": [records]}))


@FUZZ
@given(st.binary(max_size=60), st.sampled_from(["application/json", "text/plain", "", "x/y"]))
def test_raw_bodies(org: Org, tree: Tree, raw: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert_problem_or_ok(org.post("/api/v1/tasks", content=raw, headers=headers))
    assert_problem_or_ok(org.post("/api/v1/changes", content=raw, headers=headers))


@FUZZ
@given(ids, st.sampled_from(["tasks", "projects", "events", "comments", "users"]))
def test_path_ids(org: Org, tree: Tree, ident: str, kind: str) -> None:
    assert_problem_or_ok(org.get(f"/api/v1/{kind}/{ident}"))
    assert_problem_or_ok(org.delete(f"/api/v1/{kind}/{ident}"))
