"""Yandex Tracker dialect: entity reads and `…/events/_relative` (window semantics, paging,
parameters, auth and org headers, errors, rendering)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import Store

from .conftest import Org, Tree, new_org

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
HEX = re.compile(r"[0-9a-f]{24}")


def tracker_headers(org: Org, **extra: str) -> dict[str, str]:
    return {"Authorization": f"OAuth {org.token}", "X-Org-ID": str(org.id), **extra}


def tget(org: Org, path: str, params: Any = None, **headers: str) -> Any:
    return org.client.get(path, params=params, headers=tracker_headers(org, **headers))


def relative(org: Org, entity: int | str, kind: str = "project", **params: Any) -> Any:
    return tget(org, f"/v2/entities/{kind}/{entity}/events/_relative", params)


def window(org: Org, entity: int | str, **params: Any) -> tuple[list[str], bool, bool]:
    response = relative(org, entity, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [e["id"] for e in body["events"]], body["hasPrev"], body["hasNext"]


def native_ids(org: Org, scope: str) -> list[str]:
    """The scope's events, oldest first, in their Tracker id form."""
    params = {"scope": scope, "order": "oldest", "limit": 1000}
    return [f"{e['id']:024x}" for e in org.get("/api/v1/events", params=params).json()["data"]]


def grow(org: Org, tree: Tree, n: int) -> list[str]:
    for i in range(n):
        assert org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"v{i}"}).status_code == 200
    return native_ids(org, f"project:{tree.project}")


def tracker_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors", "errorMessages", "statusCode"}
    assert body["statusCode"] == status and isinstance(body["errors"], dict)
    [message] = body["errorMessages"]
    assert isinstance(message, str) and message
    return message


# -- the window: every combination against the spec's semantics -----------------------------


def expected_window(
    n: int, per_page: int, kind: str | None, i: int, on_top: bool, backward: bool
) -> tuple[list[int], bool, bool]:
    """Positions the spec puts in the window, in presentation order, and hasPrev/hasNext."""
    if kind is None:
        chosen = list(range(n))[-per_page:] if backward else list(range(min(per_page, n)))
    elif kind == "from":
        chosen = list(range(max(0, i - per_page), i)) if backward else list(range(i + 1, n))
        chosen = chosen if backward else chosen[:per_page]
    else:  # selected: the event, then alternately one before and one after
        chosen, lo, hi, before_turn = [i], i - 1, i + 1, True
        while len(chosen) < per_page and (lo >= 0 or hi < n):
            if (before_turn and lo >= 0) or hi >= n:
                chosen, lo = [*chosen, lo], lo - 1
            else:
                chosen, hi = [*chosen, hi], hi + 1
            before_turn = not before_turn
        chosen.sort()
    if chosen:
        has_prev, has_next = chosen[0] > 0, chosen[-1] < n - 1
    else:  # an empty window beyond `from`: the anchor lies on the side it came from
        has_prev, has_next = not backward, backward
    return (chosen[::-1] if on_top != backward else chosen), has_prev, has_next


def test_every_parameter_combination_follows_the_spec(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 7)
    n = len(ids)
    assert n == 11
    for per_page in (1, 2, 3, 5, 50):
        for on_top in (False, True):
            for backward in (False, True):
                base: dict[str, Any] = {"perPage": per_page}
                base["newEventsOnTop"] = "True" if on_top else "false"
                base["direction"] = "backward" if backward else "forward"
                cases: list[tuple[str | None, int]] = [(None, 0)]
                cases += [(k, i) for k in ("from", "selected") for i in (0, 1, 5, n - 2, n - 1)]
                for kind, i in cases:
                    params = {**base, kind: ids[i]} if kind else base
                    chosen, has_prev, has_next = expected_window(
                        n, per_page, kind, i, on_top, backward
                    )
                    got = window(org, tree.project, **params)
                    assert got == ([ids[j] for j in chosen], has_prev, has_next), params


def test_defaults_are_fifty_oldest_first(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 50)
    assert window(org, tree.project) == (ids[:50], False, True)
    assert window(org, tree.project, direction="backward") == (ids[-50:][::-1], True, False)
    assert window(org, tree.project, newEventsOnTop="true") == (ids[:50][::-1], False, True)


def test_paging_both_ways_through_a_long_history_without_gaps_or_repeats(
    org: Org, tree: Tree
) -> None:
    ids = grow(org, tree, 23)
    assert len(ids) == 27
    for on_top in (False, True):
        for direction in ("forward", "backward"):
            params: dict[str, Any] = {"perPage": 4, "direction": direction}
            params["newEventsOnTop"] = on_top
            seen: list[str] = []
            pages = 0
            while True:
                page, has_prev, has_next = window(org, tree.project, **params)
                pages += 1
                chronological = page if on_top == (direction == "backward") else page[::-1]
                if direction == "forward":
                    seen += chronological
                    more, next_from = has_next, chronological[-1]
                else:
                    seen = chronological + seen
                    more, next_from = has_prev, chronological[0]
                if not more:
                    break
                params["from"] = next_from
            assert seen == ids and pages == 7, (on_top, direction)


def test_selected_near_both_ends(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 8)  # 12 events
    assert window(org, tree.project, selected=ids[0], perPage=5) == (ids[:5], False, True)
    assert window(org, tree.project, selected=ids[1], perPage=5) == (ids[:5], False, True)
    assert window(org, tree.project, selected=ids[-1], perPage=5) == (ids[-5:], True, False)
    assert window(org, tree.project, selected=ids[-2], perPage=5) == (ids[-5:], True, False)
    # In the middle: the event, one before, one after, one before, one after.
    assert window(org, tree.project, selected=ids[6], perPage=5) == (ids[4:9], True, True)
    assert window(org, tree.project, selected=ids[6], perPage=4) == (ids[4:8], True, True)
    assert window(org, tree.project, selected=ids[6], perPage=1) == ([ids[6]], True, True)
    assert window(org, tree.project, selected=ids[0], perPage=1) == ([ids[0]], False, True)
    whole = window(org, tree.project, selected=ids[3], perPage=100)
    assert whole == (ids, False, False)
    on_top = window(org, tree.project, selected=ids[6], perPage=5, newEventsOnTop="True")
    assert on_top == (ids[4:9][::-1], True, True)


def test_a_portfolio_carries_everything_in_it(org: Org, tree: Tree) -> None:
    fresh = org.create("workspaces", name="Fresh")
    [created] = native_ids(org, f"workspace:{fresh['id']}")
    assert window(org, fresh["id"], kind="portfolio") == ([created], False, False)
    # A portfolio (workspace) carries the events of its projects, tasks and comments.
    ids, _, _ = window(org, tree.workspace, kind="portfolio", perPage=1000)
    assert ids == native_ids(org, f"workspace:{tree.workspace}") and len(ids) == 5


# -- entities -----------------------------------------------------------------------------


def test_entity_read_in_trackers_shape(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/projects/{tree.project}", json={"owner": org.owner_id})
    native = org.get(f"/api/v1/projects/{tree.project}").json()["data"]
    hex_id = native["hex_id"]
    assert HEX.fullmatch(hex_id)
    body = tget(org, f"/v2/entities/project/{tree.project}").json()
    assert body["id"] == hex_id and body["shortId"] == tree.project
    assert body["self"] == f"http://testserver/v2/entities/project/{hex_id}"
    assert body["entityType"] == "project" and body["version"] == 2
    assert DATE.fullmatch(body["createdAt"]) and DATE.fullmatch(body["updatedAt"])
    owner = {
        "self": f"http://testserver/v2/users/{org.owner_id}",
        "id": str(org.owner_id),
        "display": "Acme Owner",
        "cloudUid": body["createdBy"]["cloudUid"],
        "passportUid": str(org.owner_id),
    }
    assert body["createdBy"] == owner and re.fullmatch(r"aje[0-9a-f]{17}", owner["cloudUid"])
    fields = body["fields"]
    assert fields["summary"] == "Launch" and fields["author"] == owner and fields["lead"] == owner
    assert fields["parentEntity"]["shortId"] == tree.workspace
    # The same by its 24-hex id, under /v3 too; `fields=` picks fields.
    assert tget(org, f"/v2/entities/project/{hex_id}").json() == body
    v3 = tget(org, f"/v3/entities/project/{hex_id}", {"fields": "summary,lead"}).json()
    assert v3["self"] == f"http://testserver/v3/entities/project/{hex_id}"
    assert v3["fields"] == {
        "summary": "Launch",
        "lead": {**owner, "self": owner["self"].replace("v2", "v3")},
    }
    portfolio = tget(org, f"/v2/entities/portfolio/{tree.workspace}").json()
    assert (
        portfolio["entityType"] == "portfolio" and portfolio["fields"]["summary"] == "Engineering"
    )


def test_hex_ids_are_stable_and_checked(org: Org, other_org: Org, tree: Tree) -> None:
    hex_id = org.get(f"/api/v1/projects/{tree.project}").json()["data"]["hex_id"]
    assert org.get(f"/api/v1/projects/{tree.project}").json()["data"]["hex_id"] == hex_id
    assert int(hex_id[8:], 16) == tree.project
    forged = f"{int(hex_id[:8], 16) + 1:08x}{hex_id[8:]}"
    workspace_hex = org.get(f"/api/v1/workspaces/{tree.workspace}").json()["data"]["hex_id"]
    for path in (
        f"/v2/entities/project/{forged}",
        f"/v2/entities/project/{workspace_hex}",  # a portfolio is not a project
        f"/v2/entities/portfolio/{tree.project}",
        f"/v2/entities/project/{tree.task}",
        "/v2/entities/project/987654321",
        "/v2/entities/project/not-an-id",
        f"/v2/entities/project/{'9' * 30}",
    ):
        assert "not found" in tracker_error(tget(org, path), 404), path
        assert tracker_error(tget(org, path + "/events/_relative"), 404)
    goal = tget(org, f"/v2/entities/goal/{tree.project}/events/_relative")
    assert "goal" in tracker_error(goal, 404)
    # Another organization's project does not exist for this token.
    other = other_org.client.get(
        f"/v2/entities/project/{tree.project}", headers=tracker_headers(other_org)
    )
    tracker_error(other, 404)


# -- rendering ----------------------------------------------------------------------------


def test_events_in_trackers_shape(org: Org, tree: Tree) -> None:
    helper, _ = org.user("Mia Taylor")
    org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "Final <plan> & more"})
    org.patch(
        f"/api/v1/tasks/{tree.task}",
        json={"assignee": helper, "due_on": "2026-12-01", "priority": "high", "status": "review"},
    )
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"add": [helper, org.owner_id]})
    org.post(f"/api/v1/tasks/{tree.task}/followers", json={"remove": [helper]})
    org.post(f"/api/v1/tasks/{tree.task}/tags", json={"add": ["docs"]})
    org.patch(f"/api/v1/comments/{tree.comment}", json={"text": "Second"})
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.post(f"/api/v1/projects/{tree.project}/members", json={"add": [helper]})
    events = relative(org, tree.project, perPage=100).json()["events"]
    escaped = "Final &lt;plan&gt; &amp; more"
    changes = [
        (e["display"], [(c["field"]["id"], c["diff"]) for c in e["changes"]]) for e in events
    ]
    assert changes[4:] == [
        ("Issue updated", [("summary", f"<removed>Draft plan</removed><added>{escaped}</added>")]),
        (
            "Issue updated",
            [
                ("assignee", "<added>Mia Taylor</added>"),
                ("deadline", "<added>2026-12-01</added>"),
                ("priority", "<added>High</added>"),
                ("status", "<added>Review</added>"),
            ],
        ),
        ("Issue updated", [("followers", "<added>Acme Owner</added><added>Mia Taylor</added>")]),
        ("Issue updated", [("followers", "<removed>Mia Taylor</removed>")]),
        ("Issue updated", [("tags", "<added>docs</added>")]),
        ("Comment updated", [("comment.text", "<removed>First!</removed><added>Second</added>")]),
        ("Status changed", [("resolution", "<added>Fixed</added>")]),
        ("Project updated", [("teamUsers", "<added>Mia Taylor</added>")]),
    ]
    first = events[0]
    assert set(first) == {"id", "author", "date", "transport", "display", "changes", "entity"}
    assert first["display"] == "Project created" and first["transport"] == "v2"
    assert DATE.fullmatch(first["date"]) and HEX.fullmatch(first["id"])
    assert first["author"]["id"] == str(org.owner_id)
    assert first["entity"]["shortId"] == tree.project
    comment = events[9]["changes"][0]
    assert comment["field"] == {"id": "comment.text", "display": "Comment text", "email": None}
    assert comment["commentUrl"] == ""
    assert events[9]["issue"]["key"] == f"TASK-{tree.subtask}"
    assert events[4]["issue"] == {
        "self": f"http://testserver/v2/issues/TASK-{tree.task}",
        "id": org.get(f"/api/v1/tasks/{tree.task}").json()["data"]["hex_id"],
        "key": f"TASK-{tree.task}",
        "display": "Final <plan> & more",
    }


def test_names_in_russian_when_asked(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"status": "in_progress"})
    ru = tget(
        org,
        f"/v2/entities/project/{tree.project}/events/_relative",
        {"perPage": 100},
        **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"},
    ).json()["events"]
    assert [e["display"] for e in ru] == [
        "Проект создан",
        "Задача создана",
        "Задача создана",
        "Комментарий добавлен",
        "Задача обновлена",
    ]
    assert ru[-1]["changes"] == [
        {"diff": "<added>В работе</added>", "field": {"id": "status", "display": "Статус"}}  # noqa: RUF001
    ]
    en = tget(
        org,
        f"/v2/entities/project/{tree.project}/events/_relative",
        {"perPage": 100},
        **{"Accept-Language": "en;q=0.9, ru;q=0.1"},
    ).json()["events"]
    assert en[-1]["display"] == "Issue updated"


def test_system_changes_have_no_author(org: Org, tree: Tree) -> None:
    record = {"op": "change", "type": "task", "id": tree.task, "actor": None}
    record["changes"] = [{"field": "notes", "new": "from the importer"}]
    assert org.post("/api/v1/changes", json={"records": [record]}).status_code == 200
    last = relative(org, tree.project, direction="backward", perPage=1).json()["events"][0]
    assert (
        last["author"] is None and last["changes"][0]["diff"] == "<added>from the importer</added>"
    )


# -- parameters and errors ----------------------------------------------------------------


def test_bad_parameters_are_400(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 1)
    cases: list[dict[str, Any]] = [
        {"perPage": 0},
        {"perPage": 1001},
        {"perPage": "ten"},
        {"perPage": ""},
        {"perPage": "99999999999999999999999"},
        {"direction": "sideways"},
        {"newEventsOnTop": "yes"},
        {"newEventsOnTop": ""},
        {"from": "xyz"},
        {"selected": ids[0] + "0"},
        {"from": ids[0], "selected": ids[1]},
    ]
    for params in cases:
        message = tracker_error(relative(org, tree.project, **params), 400)
        assert any(name in message for name in params), (params, message)
    twice = relative(org, tree.project, perPage=[1, 2])
    assert "perPage" in tracker_error(twice, 400)
    detail = relative(org, tree.project, perPage=0).json()["errors"]
    assert list(detail) == ["perPage"]
    for value in ("true", "True", "TRUE", "false", "False"):
        assert relative(org, tree.project, newEventsOnTop=value).status_code == 200
    assert relative(org, tree.project, direction="Backward").status_code == 200


def test_unknown_event_ids_are_404(org: Org, other_org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 1)
    elsewhere = org.create("projects", name="Elsewhere", workspace=tree.workspace)
    elsewhere_ids = native_ids(org, f"project:{elsewhere['id']}")
    foreign_ws = other_org.create("workspaces", name="Theirs")
    foreign = native_ids(other_org, f"workspace:{foreign_ws['id']}")
    missing = f"{int(ids[-1], 16) + 1000:024x}"
    for name in ("from", "selected"):
        for unknown in (missing, elsewhere_ids[0], foreign[0], "0" * 24, ids[0].upper()[:-1] + "Z"):
            response = relative(org, tree.project, **{name: unknown})
            if unknown.endswith("Z"):
                tracker_error(response, 400)
            else:
                assert unknown in tracker_error(response, 404), (name, unknown)
        assert relative(org, tree.project, **{name: ids[0].upper()}).status_code == 200


def test_odd_paths_and_methods_answer_in_trackers_shape(org: Org, tree: Tree) -> None:
    assert tracker_error(tget(org, "/v2/nothing/here"), 404) == "Resource not found"
    post = org.client.post(
        f"/v2/entities/project/{tree.project}/events/_relative", headers=tracker_headers(org)
    )
    tracker_error(post, 405)


# -- authentication and organization -----------------------------------------------------


def test_auth_and_org_headers(org: Org, other_org: Org, tree: Tree) -> None:
    path = f"/v2/entities/project/{tree.project}/events/_relative"

    def call(**headers: str) -> Any:
        return org.client.get(path, headers=headers)

    auth = f"OAuth {org.token}"
    assert call(Authorization=auth, **{"X-Org-ID": str(org.id)}).status_code == 200
    assert call(Authorization=f"Bearer {org.token}", **{"X-Org-ID": str(org.id)}).status_code == 200
    assert call(Authorization=auth, **{"X-Cloud-Org-ID": str(org.id)}).status_code == 200
    # The official client's cloud mode: a placeholder in X-Org-Id, the id in X-Cloud-Org-Id.
    cloud = {"X-Org-Id": "not provided", "X-Cloud-Org-Id": str(org.id)}
    assert call(Authorization=auth, **cloud).status_code == 200
    # When both hold a value, X-Org-ID names the organization.
    both = {"X-Org-ID": str(org.id), "X-Cloud-Org-ID": str(other_org.id)}
    assert call(Authorization=auth, **both).status_code == 200
    swapped = {"X-Org-ID": str(other_org.id), "X-Cloud-Org-ID": str(org.id)}
    assert "organization" in tracker_error(call(Authorization=auth, **swapped), 403)

    org_header = {"X-Org-ID": str(org.id)}
    missing = call(**org_header)
    assert "OAuth" in tracker_error(missing, 401)
    assert missing.headers["www-authenticate"].startswith("OAuth")
    tracker_error(call(Authorization="OAuth wt_not-a-token", **org_header), 401)
    tracker_error(call(Authorization="Basic abc", **org_header), 401)
    tracker_error(call(Authorization="OAuth ", **org_header), 401)
    assert "Organization" in tracker_error(call(Authorization=auth), 401)
    tracker_error(call(Authorization=auth, **{"X-Org-ID": "not provided"}), 401)
    tracker_error(call(Authorization=auth, **{"X-Org-ID": str(other_org.id)}), 403)
    tracker_error(call(Authorization=auth, **{"X-Org-ID": "acme"}), 403)
    # Another organization's token with this organization's id.
    theirs = {"Authorization": f"OAuth {other_org.token}", "X-Org-ID": str(org.id)}
    tracker_error(call(**theirs), 403)


def test_members_read_only_their_workspaces(org: Org, tree: Tree) -> None:
    member, token = org.user("Mia Taylor")
    headers = {"Authorization": f"OAuth {token}", "X-Org-ID": str(org.id)}
    path = f"/v2/entities/project/{tree.project}/events/_relative"
    tracker_error(org.client.get(path, headers=headers), 404)
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [member]})
    assert org.client.get(path, headers=headers).status_code == 200


def test_rate_limit_answers_429(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=2)
    with TestClient(create_app(limited, store), raise_server_exceptions=False) as client:
        org = new_org(store, client)
        path = "/v2/entities/project/12345/events/_relative"
        assert [client.get(path, headers=tracker_headers(org)).status_code for _ in range(2)] == [
            404,
            404,
        ]
        response = client.get(path, headers=tracker_headers(org))
        tracker_error(response, 429)
        assert int(response.headers["retry-after"]) >= 1


FUZZ = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = ["perPage", "from", "selected", "newEventsOnTop", "direction", "fields", "bogus"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "true", "False", "backward", "50", "0" * 24, "f" * 24, "1" * 25]),
)


@FUZZ
@given(
    st.sampled_from(["project", "portfolio", "goal", ""]),
    st.one_of(st.sampled_from(["{project}", "{workspace}"]), st.text(max_size=30)),
    st.sampled_from(["", "/events/_relative"]),
    st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=5),
)
def test_whatever_a_client_sends_is_a_2xx_or_a_tracker_error(
    org: Org, tree: Tree, kind: str, ident: str, tail: str, params: list[tuple[str, str]]
) -> None:
    ident = ident.replace("{project}", str(tree.project)).replace(
        "{workspace}", str(tree.workspace)
    )
    path = f"/v2/entities/{kind}/{quote(ident, safe='')}{tail}"
    response = org.client.get(path, params=params, headers=tracker_headers(org))
    assert response.status_code < 500, response.text
    if response.status_code >= 300:
        tracker_error(response, response.status_code)


@pytest.mark.parametrize(
    "query",
    ["perPage=%00", "from=%FF%FE", "selected=%00" + "0" * 23, "direction=%E2%80%8B", "perPage=٣"],
)
def test_odd_input_never_fails_the_server(org: Org, tree: Tree, query: str) -> None:
    response = org.client.get(
        f"/v2/entities/project/{tree.project}/events/_relative?{query}",
        headers=tracker_headers(org),
    )
    tracker_error(response, 400)
