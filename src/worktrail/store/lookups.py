"""Statements that look entities and tokens up, built once.

Every authenticated request starts with `token_user`; every read of one entity that has to
be authorized with `located_entity` (the entity and the workspace it lies in, found by
walking up its containers in the same statement). The membership test is the one part
that differs between databases; each store passes its own (`MemberWorkspaces`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Label,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    func,
    literal,
    select,
)

from ..model import EntityType
from . import schema as t
from .rows import ENTITY_COLUMN_NAMES, TOKEN_COLUMNS
from .text import json_text, like_pattern

# (organization id column, user id column) -> the ids of the workspaces whose members
# include that user, aggregated into one JSON array
MemberWorkspaces = Callable[[ColumnElement[int], ColumnElement[int]], ScalarSelect[Any]]
# (organization id column, the organization) -> the test that a row is the organization's,
# where entities are also found by their ids (Store._same_org)
SameOrg = Callable[[ColumnElement[int], ColumnElement[int] | int], ColumnElement[bool]]

# Containers stop at these types: a workspace is where visibility is decided, and
# organizations and users lie in no workspace.
_TOP_TYPES = (EntityType.WORKSPACE.value, EntityType.ORGANIZATION.value, EntityType.USER.value)
# Deeper than any hierarchy the write path accepts (tasks nest at most 32 deep).
MAX_DEPTH = 64


def token_user(member_workspaces: MemberWorkspaces) -> Select[Any]:
    """The token with the bound `token_hash`, the columns of its user (NULL when the row is
    gone) and, as `workspaces`, the ids of the workspaces the user is a member of."""
    user = t.entities.alias("token_user")
    tokens = t.tokens
    return (
        select(
            *TOKEN_COLUMNS,
            *(user.c[name] for name in ENTITY_COLUMN_NAMES),
            member_workspaces(tokens.c.org_id, tokens.c.user_id).label("workspaces"),
            *_pruned(tokens.c.org_id),
        )
        .select_from(
            tokens.outerjoin(
                user, and_(user.c.org_id == tokens.c.org_id, user.c.id == tokens.c.user_id)
            )
        )
        .where(tokens.c.token_hash == bindparam("token_hash"))
    )


def _pruned(org_id: ColumnElement[int]) -> tuple[Label[Any], Label[Any]]:
    """How far retention pruned the organization: its pruned prefix's last seq and the
    last seq of any pruned run (NULL: none), so that a cursor's check costs no statement of
    its own where nothing was pruned (query.Reader.check_position)."""
    r = t.pruned_ranges.c
    prefix = select(r.last_seq).where(r.org_id == org_id, r.first_seq == 1)
    last = select(func.max(r.last_seq)).where(r.org_id == org_id)
    return prefix.scalar_subquery().label("pruned_through"), last.scalar_subquery().label(
        "pruned_last"
    )


def _containers(anchor: ColumnElement[bool], same_org: SameOrg) -> Any:
    """A recursive CTE (origin, id, type, org_id): the entities `anchor` selects (in the
    bound organization `org_id`) and each one's containers up to its workspace."""
    e = t.entities
    start = select(
        e.c.id.label("origin"),
        e.c.id,
        e.c.type,
        e.c.org_id,
        e.c.container_id,
        literal(0, Integer).label("depth"),
    ).where(same_org(e.c.org_id, bindparam("org_id")), anchor)
    chain = start.cte("containers", recursive=True)
    up = e.alias("container")
    return chain.union_all(
        select(
            chain.c.origin,
            up.c.id,
            up.c.type,
            up.c.org_id,
            up.c.container_id,
            chain.c.depth + 1,
        ).where(
            same_org(up.c.org_id, chain.c.org_id),
            up.c.id == chain.c.container_id,
            chain.c.type.not_in(_TOP_TYPES),
            chain.c.depth < MAX_DEPTH,
        )
    )


def located_entity(same_org: SameOrg) -> Select[Any]:
    """The entity with the bound `entity_id` in the organization `org_id`, and as
    `workspace_id` the workspace it lies in now."""
    chain = _containers(t.entities.c.id == bindparam("entity_id"), same_org)
    workspace = (
        select(chain.c.id)
        .where(chain.c.type == EntityType.WORKSPACE.value)
        .limit(1)
        .scalar_subquery()
    )
    e = t.entities
    return select(e, workspace.label("workspace_id")).where(
        same_org(e.c.org_id, bindparam("org_id")), e.c.id == bindparam("entity_id")
    )


def workspaces_of(same_org: SameOrg) -> Select[Any]:
    """(origin, workspace id) for each entity of the expanding bound `ids` in the bound
    organization `org_id` that lies in a workspace."""
    chain = _containers(t.entities.c.id.in_(bindparam("ids", expanding=True)), same_org)
    return select(chain.c.origin, chain.c.id).where(chain.c.type == EntityType.WORKSPACE.value)


def named_like(org_id: int, entity_type: EntityType, name: str, limit: int) -> Select[Any]:
    """Entities of one type, not deleted, whose `name` contains `name` (ignoring case), in
    id order: a scan of the organization's entities of that type, which a reader asks for
    only when someone names one."""
    c = t.entities.c
    entity_name = json_text(c.state, "name")
    return (
        select(t.entities)
        .where(
            c.org_id == org_id,
            c.type == entity_type.value,
            c.deleted.is_(False),
            entity_name.ilike(like_pattern(name), escape="\\"),
        )
        .order_by(c.id)
        .limit(limit)
    )
