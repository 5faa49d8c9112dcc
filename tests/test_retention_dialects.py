"""A position or window into events retention removed gets each vendor dialect's own
documented error, never a page that silently leaves them out (docs/integrity.md, "Pruned
positions"): Tracker 404 on the anchor, Huddle 400 Validation on daysBack, Kantata 422 on
created_after, Worksection status_code 10 on period."""

from __future__ import annotations

from .conftest import Org, Tree
from .test_huddle import huddle_error, url
from .test_retention import expire, set_policy
from .test_tracker import grow, relative, tracker_error, window
from .test_tracker_changelog import changelog
from .test_worksection import admin_key, error, events, signed, ws

HUDDLE_JSON = {"Accept": "application/vnd.huddle.data+json"}


def test_tracker_anchor_into_pruned_events_is_404(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 3)
    assert window(org, tree.project, **{"from": ids[1]})[0] == ids[2:]
    set_policy(org, retention_days=30)
    expire(org.store)
    message = tracker_error(relative(org, tree.project, **{"from": ids[1]}), 404)
    assert "retention" in message
    message = tracker_error(relative(org, tree.project, selected=ids[1]), 404)
    assert "retention" in message
    message = tracker_error(changelog(org, tree.task, id=ids[1]), 404)
    assert "retention" in message


def test_tracker_pages_on_past_holes_of_a_shorter_retention(org: Org, tree: Tree) -> None:
    ids = grow(org, tree, 3)
    set_policy(org, retention_subject_types={"comment": 7})
    expire(org.store)
    kept, _, _ = window(org, tree.project, perPage=100)
    assert len(kept) == len(ids) - 1  # the comment went
    assert window(org, tree.project, **{"from": kept[0]})[0] == kept[1:]


def test_huddle_window_into_pruned_events_is_400_validation(org: Org, tree: Tree) -> None:
    assert org.get(url(tree.workspace), headers=HUDDLE_JSON).status_code == 200
    set_policy(org, retention_days=30)
    expire(org.store)
    response = org.get(url(tree.workspace), params={"daysBack": 5}, headers=HUDDLE_JSON)
    huddle_error(response, 400, "Validation")
    assert "daysBack" in response.json()["errorMessages"][0]


def test_kantata_window_into_pruned_events_is_422_on_created_after(org: Org, tree: Tree) -> None:
    path = "/api/v1/subscribed_events"
    assert org.get(path).status_code == 200
    set_policy(org, retention_days=30)
    expire(org.store)
    response = org.get(path)
    assert response.status_code == 422, response.text
    [entry] = response.json()["errors"]
    assert entry["type"] == "validation" and entry["field"] == "created_after"
    assert "retention" in entry["message"]


def test_worksection_period_into_pruned_events_is_code_10(org: Org, tree: Tree) -> None:
    key = admin_key(org)
    assert events(org.client, "action=get_events&period=1d", key)
    set_policy(org, retention_days=30)
    expire(org.store)
    body = ws(org.client, signed("action=get_events&period=1d", key))
    error(body, 10)
    assert body["message"] == "Field is required"
    assert body["message_details"].startswith("period: ")
