"""The vendor dialects against hostile input: every class of bad request gets a clear 4xx in
the vendor's own error shape (Worksection: its envelope, with HTTP 200 for a mistake in an
action's parameters, as Worksection answers), never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Org, Tree
from .shapes import assert_error


def auth(org: Org, family: str) -> dict[str, str]:
    if family == "tracker":
        return {"Authorization": f"OAuth {org.token}", "X-Org-ID": str(org.id)}
    return org.headers


def route(family: str, tree: Tree) -> str:
    """A read route of each dialect that answers 200 for the tree's owner."""
    return {
        "asana": f"/api/1.0/projects/{tree.project}/events",
        "tracker": f"/v2/entities/project/{tree.project}/events/_relative",
        "worksection": "/api/oauth2?action=get_events&period=1d",
        "huddle": f"/tasks/workspace/{tree.workspace}/audits",
        "kantata": "/api/v1/subscribed_events",
    }[family]


DIALECTS = ("asana", "tracker", "worksection", "huddle", "kantata")


@pytest.mark.parametrize("family", DIALECTS)
def test_wrong_methods_are_405_with_allow_in_the_vendor_shape(
    org: Org, tree: Tree, family: str
) -> None:
    path = route(family, tree)
    response = org.client.request("PUT", path, headers=auth(org, family))
    assert_error(family, response, 405)
    allowed = set(response.headers["allow"].split(", "))
    assert {"GET", "HEAD", "OPTIONS"} <= allowed
    assert "PUT" not in allowed


@pytest.mark.parametrize("family", DIALECTS)
def test_head_and_options(org: Org, tree: Tree, family: str) -> None:
    path = route(family, tree)
    got = org.client.get(path, headers=auth(org, family))
    head = org.client.head(path, headers=auth(org, family))
    assert got.status_code in (200, 412), got.text  # Asana's first call is a 412
    assert head.status_code == got.status_code and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    options = org.client.options(path)
    assert options.status_code == 204 and "GET" in options.headers["allow"]


@pytest.mark.parametrize("sync", ["é", "eyJ9.é", "not-a-token", "a.b", "\u00ff" * 10, "x" * 5000])
def test_asana_answers_garbage_sync_tokens_with_412_and_a_fresh_one(
    org: Org, tree: Tree, sync: str
) -> None:
    response = org.client.get(route("asana", tree), params={"sync": sync}, headers=org.headers)
    assert_error("asana", response, 412)
    assert response.json()["sync"]


@pytest.mark.parametrize(
    ("params", "family"),
    [
        ({"from": "é"}, "tracker"),
        ({"selected": "zzzzzzzzzzzzzzzzzzzzzzzz"}, "tracker"),
        ({"perPage": "1e3"}, "tracker"),
        ({"perPage": ["5", "6"]}, "tracker"),
        ({"skipitems": str(2**70)}, "huddle"),
        ({"daysBack": "\u0661\u0662"}, "huddle"),  # Arabic-Indic digits
        ({"pagesize": "-1"}, "huddle"),
        ({"per_page": "1e3"}, "kantata"),
        ({"created_after": "2026-02-30T00:00:00Z"}, "kantata"),
        ({"page": "9" * 40}, "kantata"),
        ({"limit": "0"}, "asana"),
        ({"opt_pretty": "maybe"}, "asana"),
    ],
)
def test_bad_parameters_are_4xx_in_the_vendor_shape(
    org: Org, tree: Tree, params: dict[str, Any], family: str
) -> None:
    path = route(family, tree)
    if family == "asana":
        params = {"sync": "x", **params}
    response = org.client.get(path, params=params, headers=auth(org, family))
    assert 400 <= response.status_code < 500, response.text
    assert_error(family, response, response.status_code)


@pytest.mark.parametrize(
    "params",
    [
        {"user_ids": str(2**63)},
        {"user_ids": str(2**64) + "," + str(2**70)},
        {"subject_type": "Story", "subject_id": str(2**63)},
        {"only": str(2**70)},
        {"only": "9223372036854775807"},
    ],
)
def test_kantata_ids_past_64_bits_match_nothing(
    org: Org, tree: Tree, params: dict[str, Any]
) -> None:
    response = org.client.get(route("kantata", tree), params=params, headers=org.headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["count"] == 0
    else:
        assert_error("kantata", response, 400)


def nested(depth: int) -> Any:
    value: Any = "1d"
    for _ in range(depth):
        value = {"a": value}
    return value


def worksection(org: Org, query: str, body: bytes | None = None, **headers: str) -> Any:
    return org.client.request(
        "POST" if body is not None else "GET",
        f"/api/oauth2?{query}",
        content=body,
        headers={**org.headers, **headers},
    )


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("", b"[" * 1000 + b"]" * 1000),
        ("", json.dumps({"action": "get_events", "period": {"a": [[[[1]]]]}}).encode()),
        ("", json.dumps({"action": "get_events", "period": nested(300)}).encode()),
        ("", b'{"action": "get_events", "period": "1d", "period": "2d"}'),
        ("", b'{"action": "\\ud800"}'),
        ("", b"\xff\xfe"),
        ("action=get_events&action=get_tasks&period=1d", None),
        ("action=get_events&period=1d&period=" + "9" * 5000, None),
        ("action=get_events&period=1d&id_project=" + "9" * 5000, None),
        ("action=" + "x" * 7000, None),
        ("action=get_events&period=%FF%FE", None),
    ],
)
def test_worksection_answers_hostile_requests_in_its_envelope(
    org: Org, tree: Tree, query: str, body: bytes | None
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = worksection(org, query, body, **headers)
    if response.status_code == 200 and response.json().get("status") == "ok":
        return  # a request Worksection would take (e.g. the first of repeated values)
    assert_error("worksection", response, response.status_code)
    assert response.status_code in (200, 400, 413, 414)


def test_worksection_bodies_over_the_limit_are_413(org: Org) -> None:
    response = worksection(
        org,
        "action=get_events&period=1d",
        b"x=" + b"y" * 70_000,
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "larger than" in assert_error("worksection", response, 413)


@pytest.mark.parametrize("family", ["native", "huddle", "asana"])
def test_a_server_failure_is_500_and_closes_the_connection(
    org: Org, tree: Tree, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug, with internals: /srv/secret.py line 3")

    if family == "native":
        monkeypatch.setattr("worktrail.api.events.events_page_json", broken)
        path, params = "/api/v1/events", {"limit": 1}
    elif family == "huddle":
        monkeypatch.setattr("worktrail.dialects.huddle.routes.change_json", broken)
        path, params = route("huddle", tree), {}
    else:
        monkeypatch.setattr("worktrail.dialects.asana.sync.SyncTokens.read", broken)
        path, params = route("asana", tree), {"sync": "x"}
    response = org.client.get(path, params=params, headers=auth(org, family))
    assert "secret" not in assert_error(family, response, 500)
    assert response.headers["connection"] == "close"
