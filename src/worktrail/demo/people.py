"""The demo's people: its users and their roles, the workspaces they belong to, and who
may change what in each (owners, admins and members; guests only look)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..diff import initial_state
from ..model import EntityType, Role
from .recording import Journal
from .words import AREAS, FIRST_NAMES, LAST_NAMES, Area, ascii_only

DOMAIN = "acme-robotics.example"
OWNER_NAME = "Olivia Owner"
OWNER_EMAIL = f"olivia.owner@{DOMAIN}"
USERS = 40  # the owner included
ADMINS = 3
GUESTS = 4
# The fixed skeleton of every demo: organization, owner, the other users, the workspaces.
MIN_EVENTS = 2 + (USERS - 1) + len(AREAS)


class People:
    """Users, roles and workspace memberships as the demo wrote them."""

    def __init__(self, journal: Journal, rng: random.Random) -> None:
        self.journal = journal
        self.rng = rng
        owner = journal.owner
        self.owner = owner
        self.users: list[int] = [owner]
        self.roles: dict[int, Role] = {owner: Role.OWNER}
        self.first_names: dict[int, str] = {owner: OWNER_NAME.split()[0]}
        self.user_ws: dict[int, set[int]] = {owner: set()}
        # workspaces: members, members who may write (no guests), and what they work on
        self.workspaces: list[int] = []
        self.ws_area: dict[int, Area] = {}
        self.ws_members: dict[int, list[int]] = {}
        self.ws_writers: dict[int, list[int]] = {}
        self.ws_writer_set: dict[int, set[int]] = {}
        self.ws_cum_weights: list[float] = []  # for picking a workspace by its area's weight

    def setup_users(self) -> Iterator[None]:
        """Create the users other than the owner, one event per step."""
        rng = self.rng
        firsts = rng.sample(FIRST_NAMES, USERS - 1)
        lasts = rng.sample(LAST_NAMES, USERS - 1)
        roles = [Role.ADMIN] * ADMINS + [Role.GUEST] * GUESTS
        roles += [Role.MEMBER] * (USERS - 1 - len(roles))
        rng.shuffle(roles)
        for first, last, role in zip(firsts, lasts, roles, strict=True):
            email = ascii_only(f"{first}.{last}@{DOMAIN}".lower())
            state = {**initial_state(EntityType.USER), "name": f"{first} {last}", "email": email}
            state["role"] = role.value
            user = self.journal.record(EntityType.USER, None, state, self.owner)
            assert user is not None
            self.journal.add_actor(user)
            self.users.append(user.id)
            self.roles[user.id] = role
            self.first_names[user.id] = first
            self.user_ws[user.id] = set()
            yield

    def setup_workspaces(self) -> Iterator[None]:
        """Create one workspace per area, one event per step. Everyone has a home workspace
        (spread evenly) and may belong to one or two more; the owner belongs to all."""
        rng = self.rng
        n = len(AREAS)
        members: list[set[int]] = [{self.owner} for _ in AREAS]
        others = self.users[1:]
        rng.shuffle(others)
        for i, user in enumerate(others):
            home = i % n
            extra = rng.choices((0, 1, 2), (45, 40, 15))[0]
            for index in (home, *rng.sample([a for a in range(n) if a != home], extra)):
                members[index].add(user)
        weight = 0.0
        for area, people in zip(AREAS, members, strict=True):
            state = {**initial_state(EntityType.WORKSPACE), "name": area.name}
            state["description"] = area.description
            state["members"] = sorted(people)
            ws = self.journal.record(EntityType.WORKSPACE, None, state, self.owner)
            assert ws is not None
            self.workspaces.append(ws.id)
            self.ws_area[ws.id] = area
            self.set_members(ws.id, state["members"])
            weight += area.weight
            self.ws_cum_weights.append(weight)
            yield

    def set_members(self, ws: int, members: list[int]) -> None:
        """Make `members` the members of `ws`."""
        for user in self.ws_members.get(ws, ()):
            self.user_ws[user].discard(ws)
        for user in members:
            self.user_ws[user].add(ws)
        self.ws_members[ws] = members
        self.ws_writers[ws] = [u for u in members if self.roles[u] is not Role.GUEST]
        self.ws_writer_set[ws] = set(self.ws_writers[ws])

    def pick_workspace(self) -> int:
        """A workspace, the more likely the more its area works (by the areas' weights)."""
        return self.rng.choices(self.workspaces, cum_weights=self.ws_cum_weights)[0]

    def pick_writer(self, ws: int, *prefer: int | None) -> int:
        """Someone who may change things in `ws`, often one of `prefer` (assignee, author)."""
        writers = self.ws_writer_set[ws]
        for user in prefer:
            if user is not None and user in writers and self.rng.random() < 0.5:
                return user
        return self.rng.choice(self.ws_writers[ws])

    def admin(self, ws: int) -> int:
        """An owner or admin who belongs to `ws` (the owner belongs to every workspace)."""
        return self.rng.choice(
            [u for u in self.ws_members[ws] if self.roles[u] in (Role.OWNER, Role.ADMIN)]
        )

    def change_workspace_members(self) -> None:
        """Someone joins a workspace or leaves one (everyone stays in one to three, and
        every workspace keeps at least four members who may write)."""
        rng = self.rng
        user = rng.choice(self.users[1:])
        mine = self.user_ws[user]
        joinable = [w for w in self.workspaces if w not in mine]
        if len(mine) < 3 and joinable and (len(mine) < 2 or rng.random() < 0.5):
            ws = rng.choice(joinable)
            members = sorted([*self.ws_members[ws], user])
        elif len(mine) > 1:
            ws = rng.choice(sorted(mine))
            members = [u for u in self.ws_members[ws] if u != user]
            if len(members) - sum(self.roles[u] is Role.GUEST for u in members) < 4:
                return
        else:
            return
        row = self.journal.rows[ws]
        state = {**row.state, "members": members}
        if self.journal.record(EntityType.WORKSPACE, row, state, self.admin(ws)):
            self.set_members(ws, members)
