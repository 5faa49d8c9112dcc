"""The query core's text, changed-field and tally reads, on both databases."""

from __future__ import annotations

from dataclasses import replace

from worktrail.model import EntityType, EventQuery, Scope
from worktrail.query import Reader

from .conftest import Org, Tree


def whole(org: Org) -> Reader:
    return org.services.whole_reader(org.id)


def subjects(reader: Reader, query: EventQuery) -> list[tuple[str, int, str]]:
    page = reader.page(replace(query, limit=1000))
    return [(e.subject_type.value, e.subject_id, e.action.value) for e in page.events]


def test_text_matches_names_at_the_time_and_changed_values(org: Org, tree: Tree) -> None:
    task = org.create("tasks", name="Write Release notes", project=tree.project)
    org.patch(f"/api/v1/tasks/{task['id']}", json={"notes": "100% of the 'docs' go here"})
    org.post(f"/api/v1/tasks/{task['id']}/close")
    other = org.create("tasks", name="Unrelated", project=tree.project)
    org.patch(f"/api/v1/tasks/{other['id']}", json={"notes": 'quote "release notes" here'})
    reader = whole(org)
    query = EventQuery(org.id, text="release NOTES")
    found = subjects(reader, query)
    # the task's every event (its name at the time), and the other task's note change
    assert ("task", task["id"], "closed") in found
    assert ("task", task["id"], "created") in found
    assert ("task", other["id"], "updated") in found
    assert ("task", other["id"], "created") not in found
    assert reader.count(query) == len(found) == 4
    # LIKE's wildcards are plain characters, quotes are found as written
    assert subjects(reader, EventQuery(org.id, text="100%")) == [("task", task["id"], "updated")]
    assert subjects(reader, EventQuery(org.id, text="0%_")) == []
    assert len(subjects(reader, EventQuery(org.id, text='"release notes"'))) == 1
    # key names of the document are not values: "field" is not found everywhere
    assert subjects(reader, EventQuery(org.id, text="prev_hash")) == []
    # with a scope, and with a member's visibility
    scoped = EventQuery(org.id, scope=Scope(EntityType.PROJECT, tree.project), text="release")
    assert len(subjects(reader, scoped)) == 4


def test_changed_fields(org: Org, tree: Tree) -> None:
    org.patch(f"/api/v1/tasks/{tree.task}", json={"due_on": "2026-12-03"})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"custom_fields": {"due_on": "x"}})
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": '"field":"due_on"'})
    reader = whole(org)
    found = reader.page(EventQuery(org.id, changed_fields=("due_on",), limit=100)).events
    assert [e.changes[0]["new"] for e in found] == ["2026-12-03"]
    both = EventQuery(org.id, changed_fields=("due_on", "custom_fields.due_on"))
    assert reader.count(both) == 2
    assert reader.count(EventQuery(org.id, changed_fields=("due",))) == 0


def test_tally_counts_by_action_type_actor_and_day(org: Org, tree: Tree) -> None:
    reader = whole(org)
    query = EventQuery(org.id, scope=Scope(EntityType.PROJECT, tree.project))
    head = reader.head()
    rows = reader.tally(replace(query, until_seq=head))
    total = sum(r.n for r in rows)
    assert total == reader.count(query) == 4  # project, task, subtask, comment created
    assert {r.subject_type for r in rows} == {"project", "task", "comment"}
    assert {r.actor_id for r in rows} == {org.owner_id}
    org.post(f"/api/v1/tasks/{tree.task}/close")
    later = reader.tally(replace(query, after_seq=head, until_seq=reader.head()))
    assert [(r.action, r.subject_type, r.n) for r in later] == [("closed", "task", 1)]
    # days in the reader's zone: a day's offset moves events across midnight
    day = rows[0].day
    shifted = reader.tally(replace(query, until_seq=head), day_offset=86_400_000_000)
    assert {r.day for r in shifted} == {day + 1}


def test_find_by_name_respects_visibility(org: Org, tree: Tree) -> None:
    hidden_ws = org.create("workspaces", name="Hidden")
    org.create("projects", name="Apollo secret", workspace=hidden_ws["id"])
    org.create("projects", name="apollo launch", workspace=tree.workspace)
    user, token = org.user("Mia Member")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [user]})
    owner_sees = [p.state["name"] for p in whole(org).find(EntityType.PROJECT, "APOLLO")]
    assert owner_sees == ["Apollo secret", "apollo launch"]
    member = org.services.reader(org.services.authenticate(token))
    assert [p.state["name"] for p in member.find(EntityType.PROJECT, "apollo")] == ["apollo launch"]
    assert member.find(EntityType.PROJECT, "%") == []
