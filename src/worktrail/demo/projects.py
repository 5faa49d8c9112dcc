"""Changes to projects: a new one, renamed, described, due, handed to another owner,
archived and taken out of the archive, and people joining and leaving one."""

from __future__ import annotations

from ..diff import initial_state
from ..model import EntityType
from .words import NOTES, project_name
from .work import Work


def new_project(work: Work) -> int | None:
    """Create a project in a workspace picked by its area's weight; its id."""
    rng, people = work.rng, work.people
    ws = people.pick_workspace()
    area = people.ws_area[ws]
    actor = people.pick_writer(ws)
    owner = actor if rng.random() < 0.7 else rng.choice(people.ws_writers[ws])
    members = people.ws_members[ws]
    team = rng.sample(members, min(len(members), rng.randint(2, 6)))
    state = {**initial_state(EntityType.PROJECT), "workspace": ws, "owner": owner}
    state["name"] = project_name(rng, area)
    state["members"] = sorted({owner, actor, *team})
    if rng.random() < 0.6:
        state["description"] = rng.choice(NOTES)
    if rng.random() < 0.5:
        state["due_on"] = work.due_date(14, 90)
    project = work.record(EntityType.PROJECT, None, state, actor)
    if project is None:
        return None
    work.projects.append(project.id)
    work.project_ws[project.id] = ws
    work.ws_projects.setdefault(ws, []).append(project.id)
    return project.id


def add_project(work: Work) -> None:
    """A new project (its tasks come with later changes)."""
    new_project(work)


def edit_project(work: Work) -> None:
    """One field of a project changes; an archived one may only come out of the archive."""
    project = work.pick_project()
    if project is None:
        return
    rng, people = work.rng, work.people
    ws = work.project_ws[project.id]
    state = {**project.state}
    what = rng.random()
    if state["archived"]:
        if what < 0.3:  # taken out of the archive again
            state["archived"] = False
            work.record(EntityType.PROJECT, project, state, people.pick_writer(ws))
        return
    if what < 0.3:
        name = project_name(rng, people.ws_area[ws])
        state["name"] = name if name != state["name"] else f"{name} (renamed)"
    elif what < 0.55:
        state["description"] = rng.choice(NOTES)
        if state["description"] == project.state["description"]:
            state["description"] += " Updated."
    elif what < 0.75:
        state["due_on"] = work.due_date(7, 90)
        if state["due_on"] == project.state["due_on"]:
            state["due_on"] = None
    elif what < 0.85:
        owners = [u for u in people.ws_writers[ws] if u != state["owner"]]
        if not owners:
            return
        state["owner"] = rng.choice(owners)
        state["members"] = sorted({*state["members"], state["owner"]})
    else:
        state["archived"] = True
    actor = people.pick_writer(ws, project.state["owner"])
    work.record(EntityType.PROJECT, project, state, actor)


def change_project_members(work: Work) -> None:
    """Someone of the workspace joins a project, or a member other than its owner leaves."""
    project = work.pick_project()
    if project is None or project.state["archived"]:
        return
    rng, people = work.rng, work.people
    ws = work.project_ws[project.id]
    members = set(project.state["members"])
    removable = sorted(members - {project.state["owner"]})
    absent = [u for u in people.ws_members[ws] if u not in members]
    if removable and (not absent or rng.random() < 0.3):
        members.discard(rng.choice(removable))
    elif absent:
        members.add(rng.choice(absent))
    else:
        return
    state = {**project.state, "members": sorted(members)}
    work.record(EntityType.PROJECT, project, state, people.pick_writer(ws, state["owner"]))
