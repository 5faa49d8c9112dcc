"""Kantata Subscribed Events: who may read them, the retention window, the organization
settings behind it, errors in Kantata's shape, and the published contract."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store

from .conftest import Org, Tree, new_org
from .test_kantata import URL, fetch, listed, native

DAY = 86_400_000_000
INVALID_OAUTH = {"errors": [{"type": "oauth", "message": "Invalid OAuth 2 Request"}]}


def kantata_error(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["type"] == kind and error["message"]
    return dict(error)


# -- access --------------------------------------------------------------------------------


def test_only_admins_and_owners_read_subscribed_events(org: Org, tree: Tree) -> None:
    assert org.get(URL).status_code == 200
    for role, status in (("admin", 200), ("member", 403), ("guest", 403)):
        _, token = org.user(f"A {role}", role)
        headers = {"Authorization": f"Bearer {token}"}
        for path in (URL, URL + ".json", URL + "/event_types"):
            response = org.client.get(path, headers=headers)
            assert response.status_code == status, (role, path, response.text)
            if status == 403:
                error = kantata_error(response, 403, "system")
                assert error["message"] == (
                    "Only Account Administrators can access Subscribed Events."
                )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wt_nope"}, {"Authorization": "Basic abc"}],
)
def test_without_a_valid_token_it_is_kantatas_401(org: Org, headers: dict[str, str]) -> None:
    for path in (URL, URL + "/event_types.json"):
        response = org.client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json() == INVALID_OAUTH


def test_a_revoked_token_is_refused(org: Org) -> None:
    [token] = org.store.list_tokens(org.id)
    org.store.revoke_token(org.id, token.id)
    response = org.get(URL)
    assert response.status_code == 401 and response.json() == INVALID_OAUTH


def test_no_event_of_another_organization(org: Org, other_org: Org, tree: Tree) -> None:
    other_org.create("workspaces", name="Theirs")
    ours = {e["id"] for e in listed(org, per_page=200)}
    theirs = {e["id"] for e in listed(other_org, per_page=200)}
    assert ours and theirs and not ours & theirs
    assert {e["account_id"] for e in listed(other_org)} == {other_org.id}
    assert listed(org, subject_type="WorkspaceGroup", most_recent="true")[0]["account_id"] == org.id


def test_rate_limit_answers_429(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=2)
    with TestClient(create_app(limited, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        assert [org.get(URL).status_code for _ in range(2)] == [200, 200]
        response = org.get(URL)
        kantata_error(response, 429, "system")
        assert int(response.headers["retry-after"]) >= 1


# -- retention -----------------------------------------------------------------------------


def test_events_older_than_the_window_are_not_returned(
    org: Org, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = native(org)
    time.sleep(0.01)
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": "recent"})
    recent = native(org)[len(old) :]
    last_old = org.store.get_event(org.id, old[-1]["seq"])  # its recorded_at to the microsecond
    assert last_old is not None
    # nine days (the default) after the last old event, it has just left the window
    monkeypatch.setattr(
        org.client.app.state.services, "clock", lambda: last_old.recorded_at + 9 * DAY + 1
    )
    assert [e["id"] for e in listed(org)] == [str(e["id"]) for e in recent]
    assert fetch(org)["count"] == len(recent)
    assert [e["id"] for e in listed(org, most_recent="true")] == [str(recent[-1]["id"])]
    assert listed(org, only=str(old[0]["id"])) == []
    # one microsecond earlier it is still in (and the events before it are not)
    monkeypatch.setattr(
        org.client.app.state.services, "clock", lambda: last_old.recorded_at + 9 * DAY
    )
    assert [e["id"] for e in listed(org)][-1] == str(old[-1]["id"])
    assert len(listed(org)) == len(recent) + 1
    # the window is the organization's setting
    org.patch("/api/v1/organization/settings", json={"kantata_retention_days": 10})
    monkeypatch.setattr(
        org.client.app.state.services, "clock", lambda: last_old.recorded_at + 9 * DAY + 1
    )
    assert len(listed(org)) == len(old) + len(recent)
    # the events stay in worktrail's store and its other APIs
    assert len(native(org)) == len(old) + len(recent)


def test_a_retention_of_zero_days_returns_nothing(org: Org, tree: Tree) -> None:
    response = org.patch("/api/v1/organization/settings", json={"kantata_retention_days": 0})
    assert response.status_code == 200, response.text
    body = fetch(org)
    assert body["count"] == 0 and body["results"] == [] and body["subscribed_events"] == {}
    assert body["meta"] == {"count": 0, "page_count": 0, "page_number": 1, "page_size": 20}
    assert fetch(org, most_recent_by_event_type="true")["count"] == 0
    assert len(native(org)) == 7


# -- organization settings -------------------------------------------------------------------


def test_settings_are_read_and_changed_by_admins(org: Org) -> None:
    body = org.get("/api/v1/organization/settings").json()
    assert body["data"] == {
        "kantata_payload_encoding": "object",
        "kantata_retention_days": 9,
        "retention_days": None,  # the organization's own retention (api/retention.py)
        "retention_subject_types": None,
    }
    assert {s["name"] for s in body["settings"]} == set(body["data"])
    assert all(s["help"] for s in body["settings"])
    changed = org.patch(
        "/api/v1/organization/settings",
        json={"kantata_retention_days": 30, "kantata_payload_encoding": "string"},
    )
    assert changed.status_code == 200
    assert changed.json()["data"] == {
        "kantata_payload_encoding": "string",
        "kantata_retention_days": 30,
        "retention_days": None,
        "retention_subject_types": None,
    }
    reset = org.patch("/api/v1/organization/settings", json={"kantata_retention_days": None})
    assert reset.json()["data"]["kantata_retention_days"] == 9
    stored = org.store.get_org(org.id)
    assert stored is not None and stored.settings == {"kantata_payload_encoding": "string"}
    _, token = org.user("Mia Member")
    headers = {"Authorization": f"Bearer {token}"}
    for response in (
        org.client.get("/api/v1/organization/settings", headers=headers),
        org.client.patch(
            "/api/v1/organization/settings", json={"kantata_retention_days": 1}, headers=headers
        ),
    ):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
    _, admin = org.user("Ada Admin", "admin")
    response = org.client.get(
        "/api/v1/organization/settings", headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"kantata_retention_days": -1},
        {"kantata_retention_days": 3651},
        {"kantata_retention_days": "9"},
        {"kantata_retention_days": 1.5},
        {"kantata_retention_days": True},
        {"kantata_payload_encoding": "xml"},
        {"no_such_setting": 1},
    ],
)
def test_invalid_settings_are_422(org: Org, body: dict[str, Any]) -> None:
    response = org.patch("/api/v1/organization/settings", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == next(iter(body)) and next(iter(body)) in problem["detail"]
    assert org.get("/api/v1/organization/settings").json()["data"]["kantata_retention_days"] == 9


def test_settings_body_must_be_an_object(org: Org) -> None:
    response = org.patch("/api/v1/organization/settings", json=[1, 2])
    assert 400 <= response.status_code < 500


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"most_recent": "true", "most_recent_by_event_type": "true"},
        {"subject_id": "5"},
        {"order": "updated_at:desc"},
        {"order": "created_at:sideways"},
        {"page": "0"},
        {"page": "two"},
        {"per_page": "0"},
        {"per_page": "-5"},
        {"limit": "0", "offset": "0"},
        {"limit": "5", "offset": "-1"},
        {"offset": "99999999999999"},
        {"most_recent": "maybe"},
        {"created_after": "yesterday"},
        {"created_before": "2026-13-01T00:00:00Z"},
        {"only": "abc"},
        {"user_ids": "1,x"},
        {"subject_type": "Story,Post"},
        {"subject_type": "Story", "subject_id": "1;2"},
    ],
)
def test_malformed_parameters_are_400(org: Org, params: dict[str, str]) -> None:
    kantata_error(org.get(URL, params=params), 400, "system")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"subject_type": "Task"}, "subject_type"),
        ({"event_types": "story"}, "event_types"),
        ({"event_types": "Story:Updated"}, "event_types"),
        ({"include": "subject,user"}, "include"),
        ({"optional_fields": "payload"}, "optional_fields"),
    ],
)
def test_unknown_names_are_422_validation_errors(
    org: Org, params: dict[str, str], field: str
) -> None:
    assert kantata_error(org.get(URL, params=params), 422, "validation")["field"] == field


def test_unknown_paths_and_methods_answer_in_kantatas_shape(org: Org) -> None:
    kantata_error(org.get(URL + "/nope"), 404, "system")
    kantata_error(org.post(URL, json={}), 405, "system")
    assert org.get(URL, params={"unknown": "ignored"}).status_code == 200


FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = [
    "created_after",
    "created_before",
    "event_types",
    "include",
    "most_recent",
    "most_recent_by_event_type",
    "only",
    "optional_fields",
    "order",
    "page",
    "per_page",
    "limit",
    "offset",
    "subject_id",
    "subject_type",
    "user_ids",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "",
            "true",
            "1",
            "200",
            "Story",
            "story:updated",
            "subject",
            "payload_changes",
            "created_at:asc",
            "2026-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
        ]
    ),
)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=6))
def test_whatever_a_client_sends_is_a_200_or_a_kantata_error(
    org: Org, tree: Tree, params: list[tuple[str, str]]
) -> None:
    response = org.get(URL, params=params)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["errors"][0]["type"] in ("system", "validation")


# -- the published contract ------------------------------------------------------------------

# Kantata's Swagger definition of the 200 response of GET /subscribed_events and of
# SubscribedEvents::Models::SubscribedEvent (the payload fields typed as strings), plus the
# Errors definition, transcribed.
_EVENT = {
    "type": "object",
    "properties": {
        "account_id": {"type": "integer"},
        "context_workspace_id": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "current_payload": {"type": ["string", "null"]},
        "event_type": {"type": "string"},
        "payload_changes": {"type": ["string", "null"]},
        "previous_payload": {"type": ["string", "null"]},
        "subject_changed_at": {"type": "string", "format": "date-time"},
        "subject_id": {"type": "integer"},
        "subject_ref": {
            "type": ["object", "null"],
            "properties": {"key": {"type": "string"}, "id": {"type": "string"}},
            "required": ["key", "id"],
        },
        "subject_type": {"type": "string"},
        "user_id": {"type": ["integer", "null"]},
    },
    "required": ["account_id", "created_at", "event_type", "subject_id", "subject_type"],
}
_INT = {"type": "integer"}
CONTRACT = {
    "type": "object",
    "properties": {
        "count": _INT,
        "meta": {
            "type": "object",
            "properties": {
                "count": _INT,
                "page_count": _INT,
                "page_number": _INT,
                "page_size": _INT,
            },
            "required": ["count", "page_count", "page_number", "page_size"],
        },
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "id": {"type": "string"}},
                "required": ["key", "id"],
            },
        },
        "subscribed_events": {"type": "object", "additionalProperties": _EVENT},
    },
    "required": ["count", "meta", "results", "subscribed_events"],
}
ERRORS = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                "required": ["type", "message"],
            },
            "minItems": 1,
        }
    },
    "required": ["errors"],
}


def test_responses_follow_kantatas_published_contract(org: Org, tree: Tree) -> None:
    org.patch("/api/v1/organization/settings", json={"kantata_payload_encoding": "string"})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Renamed"})
    checker = jsonschema.Draft7Validator(CONTRACT, format_checker=jsonschema.FormatChecker())
    for params in (
        {},
        {"include": "subject", "optional_fields": "previous_payload,current_payload"},
        {"optional_fields": "payload_changes", "most_recent": "true"},
        {"most_recent_by_event_type": "true", "order": "created_at:asc", "limit": 3, "offset": 1},
    ):
        checker.validate(fetch(org, **params))
    for bad in ({"page": "x"}, {"subject_type": "Task"}):
        jsonschema.validate(org.get(URL, params=bad).json(), ERRORS)
    jsonschema.validate(org.client.get(URL).json(), ERRORS)
