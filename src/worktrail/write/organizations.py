"""Creating organizations and their first owner."""

from __future__ import annotations

from dataclasses import dataclass

from ..diff import initial_state, normalize_fields
from ..model import Action, EntityType, NewEvent, Role, Scope
from ..store import Store
from .recorder import Recorder


@dataclass(frozen=True)
class NewOrganization:
    org_id: int
    owner_id: int


def create_organization(
    store: Store,
    name: str,
    owner_name: str,
    owner_email: str,
    timezone: str = "UTC",
    occurred_at: int | None = None,
) -> NewOrganization:
    """Create an organization and its owner; both are the first events of its history."""
    state = {
        **initial_state(EntityType.ORGANIZATION),
        **normalize_fields(
            EntityType.ORGANIZATION, {"name": name, "timezone": timezone}, partial=False
        ),
    }
    owner_state = {
        **initial_state(EntityType.USER),
        **normalize_fields(
            EntityType.USER,
            {"name": owner_name, "email": owner_email, "role": Role.OWNER.value},
            partial=False,
        ),
    }
    with store.write_new_organization(state) as (tx, org_id):
        tx.append(
            NewEvent(
                action=Action.CREATED,
                subject_type=EntityType.ORGANIZATION,
                subject_id=org_id,
                changes=[{"field": k, "old": None, "new": v} for k, v in state.items() if v],
                before=None,
                after=state,
                scopes=[Scope(EntityType.ORGANIZATION, org_id)],
                actor=None,
                occurred_at=occurred_at or tx.now,
                context={"source": "system"},
            )
        )
        owner = Recorder(tx, None, actor=None, source="system").record(
            EntityType.USER, None, owner_state, occurred_at=occurred_at
        )
    return NewOrganization(org_id, owner.entity.id)
