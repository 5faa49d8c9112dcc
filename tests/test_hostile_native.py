"""The native API against hostile input: each class of bad request gets its exact status in
problem+json, and a refused write records nothing (the organization's head stays put)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from worktrail.web.jsonbody import MAX_DEPTH, MAX_STRING

from .conftest import Org, Tree
from .shapes import assert_error

JSON = {"Content-Type": "application/json"}


def raw_post(org: Org, path: str, body: bytes, **headers: str) -> Any:
    return org.client.post(path, content=body, headers={**org.headers, **JSON, **headers})


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (name, raw JSON body for POST /api/v1/tasks, what the detail must mention)
BAD_BODIES = [
    ("lone surrogate", b'{"name": "\\ud800", "project": %(project)d}', "surrogate"),
    ("nested 1000 deep", nested(1000), "nested deeper"),
    ("nested past the limit", b'{"name": "x", "notes": %(deep)s}', "nested deeper"),
    ("integer past 64 bits", b'{"name": "x", "project": 18446744073709551616}', "64 bits"),
    ("integer just under -2**63", b'{"name": "x", "project": -9223372036854775809}', "64 bits"),
    ("NaN", b'{"name": "x", "project": NaN}', "NaN"),
    ("Infinity", b'{"name": "x", "project": Infinity}', "Infinity"),
    ("1e400", b'{"name": "x", "project": 1e400}', "too large"),
    ("duplicate member", b'{"name": "x", "name": "y", "project": %(project)d}', "twice"),
    ("NUL in a string", b'{"name": "a\\u0000b", "project": %(project)d}', "NUL"),
    ("invalid UTF-8", b'{"name": "\xff\xfe", "project": 1}', "UTF-8"),
    ("byte order mark", b'\xef\xbb\xbf{"name": "x"}', "byte order mark"),
    ("malformed", b'{"name": ', "malformed JSON"),
    ("not an object", b'["name", "x"]', "object"),
    ("empty", b"", "no body"),
    ("string past the limit", b'{"name": "x", "notes": "%(long)s"}', "characters"),
]


@pytest.mark.parametrize(
    ("name", "template", "mentions"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_json_bodies_are_422_and_write_nothing(
    org: Org, tree: Tree, name: str, template: bytes, mentions: str
) -> None:
    body = (
        template
        % {
            b"project": tree.project,
            b"deep": b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
            b"long": b"x" * (MAX_STRING + 1),
        }
        if b"%(" in template
        else template
    )
    head = org.store.head_seq(org.id)
    for path in ("/api/v1/tasks", f"/api/v1/tasks/{tree.task}"):
        method = org.client.post if path == "/api/v1/tasks" else org.client.patch
        response = method(path, content=body, headers={**org.headers, **JSON})
        assert mentions in assert_error("native", response, 422), name
    assert org.store.head_seq(org.id) == head


def test_values_within_the_limits_are_kept_exactly(org: Org, tree: Tree) -> None:
    deepest = {"a": 1}
    for _ in range(MAX_DEPTH - 5):  # body > record > custom_fields > key > ... > value
        deepest = {"a": deepest}
    fields = {"big": 2**63 - 1, "small": -(2**63), "float": 1.5e308, "deep": deepest}
    created = org.create("tasks", name="Édith's task", project=tree.project, custom_fields=fields)
    assert created["custom_fields"] == fields
    history = org.get(f"/api/v1/tasks/{created['id']}/events").json()["data"]
    assert history[0]["after"]["custom_fields"] == fields


def test_ingest_refuses_a_whole_batch_for_one_bad_value(org: Org, tree: Tree) -> None:
    deep: Any = "leaf"
    for _ in range(250):
        deep = {"k": deep}
    records = [
        {
            "op": "snapshot",
            "type": "task",
            "id": "good-1",
            "state": {"name": "Fine", "project": tree.project},
        },
        {
            "op": "snapshot",
            "type": "task",
            "id": "bad-1",
            "state": {"name": "Deep", "project": tree.project, "custom_fields": {"x": deep}},
        },
    ]
    head = org.store.head_seq(org.id)
    body = json.dumps({"records": records}).encode()  # deeper than orjson writes
    response = raw_post(org, "/api/v1/changes", body)
    assert "nested deeper" in assert_error("native", response, 422)
    assert org.store.head_seq(org.id) == head


@pytest.mark.parametrize("where", ["idempotency_key", "id"])
def test_nul_in_keys_and_external_ids_is_refused(org: Org, tree: Tree, where: str) -> None:
    record: dict[str, Any] = {
        "op": "snapshot",
        "type": "task",
        "id": "ext-1",
        "state": {"name": "x", "project": tree.project},
        "idempotency_key": "key-1",
    }
    record[where] = "a\u0000b"
    head = org.store.head_seq(org.id)
    response = raw_post(org, "/api/v1/changes", orjson.dumps({"records": [record]}))
    assert "NUL" in assert_error("native", response, 422)
    assert org.store.head_seq(org.id) == head


@pytest.mark.parametrize(
    "cursor",
    ["é€", "not-a-cursor", "a.b", "Zm9v.YmFy", "x" * 5000, ".", "\u0000", "eyJ9.é"],
)
def test_malformed_cursors_are_400(org: Org, tree: Tree, cursor: str) -> None:
    response = org.get("/api/v1/events", params={"cursor": cursor})
    assert "cursor" in assert_error("native", response, 400)


def test_a_malformed_last_event_id_is_400(org: Org, tree: Tree) -> None:
    for value in ("é", "garbage", "a.b"):
        response = org.client.get(
            "/api/v1/events/stream",
            headers={**org.headers, "Last-Event-ID": value.encode()},  # type: ignore[dict-item]
        )
        assert "cursor" in assert_error("native", response, 400)


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"limit": ["1", "2"]}, "given 2 times"),
        ({"occurred_after": "2026-02-30T00:00:00Z"}, "occurred_after"),
        ({"occurred_after": "+275760-09-13T00:00:00Z"}, "occurred_after"),
        ({"scope": "task:99999999999999999999999"}, "scope"),
        ({"actor": "18446744073709551616"}, "actor"),
        ({"limit": "1e3"}, "limit"),
        ({"bogus": "1"}, "unknown query parameter"),
    ],
)
def test_bad_parameters_are_400(
    org: Org, tree: Tree, params: dict[str, Any], mentions: str
) -> None:
    response = org.get("/api/v1/events", params=params)
    assert mentions in assert_error("native", response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/99999999999999999999999",
        "/api/v1/tasks/-1",
        "/api/v1/tasks/%F0%9F%92%A5",
        "/api/v1/events/99999999999999999999",
        "/api/v1/nothing-here",
    ],
)
def test_unknown_and_impossible_ids_are_404(org: Org, path: str) -> None:
    assert_error("native", org.get(path), 404)


def test_wrong_content_types_are_415(org: Org, tree: Tree) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = org.client.post(
            "/api/v1/tasks",
            content=b'{"name": "x"}',
            headers={**org.headers, "Content-Type": content_type},
        )
        assert "Content-Type" in assert_error("native", response, 415)


def test_wrong_methods_are_405_with_allow(org: Org, tree: Tree) -> None:
    response = org.client.put("/api/v1/events", headers=org.headers)
    assert_error("native", response, 405)
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    response = org.client.put(f"/api/v1/tasks/{tree.task}", headers=org.headers)
    assert_error("native", response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"


def test_head_and_options_follow_http(org: Org, tree: Tree) -> None:
    got = org.get("/api/v1/events", params={"limit": 2})
    head = org.client.head("/api/v1/events", params={"limit": 2}, headers=org.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["x-has-more"] == got.headers["x-has-more"]
    exported = org.client.head("/api/v1/events", headers={**org.headers, "Accept": "text/csv"})
    assert exported.status_code == 200 and exported.content == b""
    options = org.client.options(f"/api/v1/tasks/{tree.task}")
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PATCH",
        "DELETE",
    }
    assert_error("native", org.client.options("/api/v1/nothing-here"), 404)


def test_bodies_over_the_limit_are_413_before_they_are_read(org: Org, tree: Tree) -> None:
    limit = org.services.settings.max_body_bytes
    head = org.store.head_seq(org.id)
    big = b'{"name": "' + b"x" * limit + b'"}'
    declared = raw_post(org, "/api/v1/tasks", big)
    assert "larger than" in assert_error("native", declared, 413)
    assert declared.headers["connection"] == "close"

    def chunks() -> Any:  # no Content-Length: counted as it streams
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    streamed = org.client.post(
        f"/api/v1/tasks/{tree.task}/tags", content=chunks(), headers={**org.headers, **JSON}
    )
    assert "larger than" in assert_error("native", streamed, 413)
    assert org.store.head_seq(org.id) == head


def test_ingest_takes_larger_bodies_than_other_writes(org: Org, tree: Tree) -> None:
    settings = org.services.settings
    records = [
        {
            "op": "snapshot",
            "type": "task",
            "id": f"t{i}",
            "state": {"name": "x", "notes": "x" * 9000, "project": tree.project},
        }
        for i in range(200)
    ]
    body = orjson.dumps({"records": records})
    assert settings.max_body_bytes < len(body) < settings.max_ingest_bytes
    response = raw_post(org, "/api/v1/changes", body)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["recorded"] == 200


def test_long_query_strings_are_414(org: Org) -> None:
    response = org.get("/api/v1/events", params={"cursor": "x" * 9000})
    assert "query string" in assert_error("native", response, 414)


def test_an_array_past_the_limit_is_refused(org: Org, tree: Tree) -> None:
    body = orjson.dumps({"add": [f"tag{i}" for i in range(10_001)]})
    response = raw_post(org, f"/api/v1/tasks/{tree.task}/tags", body)
    assert "at most 10,000" in assert_error("native", response, 422)
