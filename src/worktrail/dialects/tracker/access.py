"""Who a Tracker request acts as, and the entities and events its ids name.

Authentication: `Authorization: OAuth <token>` (or `Bearer <token>`, Tracker's IAM form)
carries a worktrail API token, and `X-Org-ID` or `X-Cloud-Org-ID` names the organization,
which must be the token's (the worktrail organization id). The official Python client
always sends `X-Org-Id`: with the placeholder "not provided" when it was given a cloud
organization id, which then travels in `X-Cloud-Org-Id`. So a header holding the
placeholder counts as absent, and when both hold a value X-Org-ID wins, as in Tracker.

Ids: entities are named by their 24-hex id (`entity_hex_id`) or their numeric short id
(the worktrail id); tasks by `TASK-<id>`, their id or their 24-hex id; events by the
24-hex form of their public id, which decodes back to the organization and its seq.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

from ...auth import Principal
from ...errors import NotFound, Pruned
from ...model import MAX_ID, EntityRow, EntityType, Event, entity_hex_id, split_event_id
from ...query import Reader
from ...web.deps import ServicesDep
from .. import kit
from .errors import (
    TrackerError,
    bad_parameter,
    forbidden,
    not_found,
    too_many_requests,
    unauthorized,
)

ORG_HEADERS = ("x-org-id", "x-cloud-org-id")
PLACEHOLDER = "not provided"
SCHEMES = ("oauth", "bearer")
RATE_SCOPE = "tracker"

# Tracker's entity types and the worktrail entities they are: a project is a project, a
# portfolio (a group of projects) is a workspace.
ENTITY_TYPES = {"project": EntityType.PROJECT, "portfolio": EntityType.WORKSPACE}
TRACKER_TYPES = {v: k for k, v in ENTITY_TYPES.items()}

HEX_ID = re.compile(r"[0-9a-fA-F]{24}")
SHORT_ID = re.compile(r"[0-9]{1,19}")
ISSUE_KEY = re.compile(r"(?i:TASK)-([0-9]{1,19})")


def tracker_principal(request: Request, services: ServicesDep) -> Principal:
    """The principal of a Tracker request: token, then organization, then rate limit.
    Every refusal counts as a failed authentication of the client (Services)."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() not in SCHEMES or not token.strip():
        raise services.refuse_authentication(
            unauthorized(
                "Authorization required: send 'Authorization: OAuth <token>' with a "
                "worktrail API token"
            )
        )
    principal = services.authenticate(token.strip())
    org = organization_header(request)
    if org is None:
        raise services.refuse_authentication(
            unauthorized(
                "Organization is not specified: send X-Org-ID (or X-Cloud-Org-ID) with the "
                "organization id"
            )
        )
    if org != str(principal.org_id):
        raise services.refuse_authentication(
            forbidden(f"The token does not belong to organization {org}")
        )
    kit.admit(services, RATE_SCOPE, f"token:{principal.token_id}", too_many_requests)
    return principal


def organization_header(request: Request) -> str | None:
    for name in ORG_HEADERS:
        value = request.headers.get(name, "").strip()
        if value and value.lower() != PLACEHOLDER:
            return value
    return None


TrackerPrincipal = Annotated[Principal, Depends(tracker_principal)]


async def tracker_reader(services: ServicesDep, principal: TrackerPrincipal) -> Reader:
    return services.reader(principal)


TrackerReader = Annotated[Reader, Depends(tracker_reader)]


# -- events ----------------------------------------------------------------------------


def event_hex_id(event: Event) -> str:
    return f"{event.id:024x}"


def event_seq(name: str, text: str, org_id: int) -> int:
    """The seq an event id names in the caller's organization (404 for another's)."""
    if not HEX_ID.fullmatch(text):
        raise bad_parameter(name, f"Not an event id: {text!r} (24 hex digits expected)")
    org, seq = split_event_id(int(text, 16))
    if org != org_id or seq == 0:
        raise unknown_event(text)
    return seq


def unknown_event(text: str) -> TrackerError:
    return not_found(f"Event {text} not found")


def pruned(reader: Reader, seq: int, ascending: bool) -> None:
    """404, the error Tracker documents for an anchor (`from`, `selected`, the changelog's
    `id`) it does not have, when retention removed the anchor or the events next to it."""
    try:
        reader.check_anchor(seq)
        reader.check_position(seq, ascending)
    except Pruned as exc:
        raise not_found(f"Event not found: {exc.detail}") from exc


# -- entities --------------------------------------------------------------------------


def entity_type(segment: str) -> EntityType:
    found = ENTITY_TYPES.get(segment)
    if found is None:
        raise not_found(
            f"Entity type {segment!r} not found: worktrail serves project and portfolio"
        )
    return found


def readable_entity(reader: Reader, kind: EntityType, ident: str) -> EntityRow:
    """The entity `ident` names (24-hex id or numeric short id), readable by the reader."""
    entity = _lookup(reader, ident, kind)
    if entity is None:
        raise not_found(f"Entity {ident} not found")
    return entity


def _lookup(reader: Reader, ident: str, kind: EntityType) -> EntityRow | None:
    """The readable entity of type `kind` that `ident` names, if there is one."""
    if HEX_ID.fullmatch(ident):
        entity_id = int(ident[8:], 16)
    elif SHORT_ID.fullmatch(ident) and 0 < int(ident) <= MAX_ID:
        entity_id = int(ident)
    else:
        return None
    try:
        entity = reader.entity(entity_id, kind)
    except NotFound:  # absent, of another type or hidden: Tracker tells none apart
        return None
    if HEX_ID.fullmatch(ident) and entity_hex_id(entity.id, entity.created_at) != ident.lower():
        return None
    return entity


def issue_key(task_id: int) -> str:
    return f"TASK-{task_id}"


def readable_task(reader: Reader, key: str) -> EntityRow:
    """The task a Tracker issue key names: TASK-<id>, <id> or its 24-hex id."""
    match = ISSUE_KEY.fullmatch(key)
    entity = _lookup(reader, match.group(1) if match else key, EntityType.TASK)
    if entity is None:
        raise not_found(f"Issue {key} not found")
    return entity
