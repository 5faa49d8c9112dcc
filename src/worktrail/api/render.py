"""Native renderings of events and entities: JSON objects, NDJSON lines, CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from ..diff import micros_to_iso
from ..model import Event, entity_hex_id
from ..store import EntityRow


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "org_id": event.org_id,
        "seq": event.seq,
        "occurred_at": micros_to_iso(event.occurred_at),
        "recorded_at": micros_to_iso(event.recorded_at),
        "actor": event.actor.to_json() if event.actor else None,
        "action": event.action.value,
        "subject": {"type": event.subject_type.value, "id": event.subject_id},
        "scopes": [str(s) for s in event.scopes],
        "changes": list(event.changes),
        "before": event.before,
        "after": event.after,
        "context": event.context,
        "idempotency_key": event.idempotency_key,
        "schema_version": event.schema_version,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def entity_json(entity: EntityRow) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity.id, "type": entity.type.value}
    out.update(entity.state)
    out["external_id"] = entity.external_id
    out["deleted"] = entity.deleted
    out["version"] = entity.version
    out["hex_id"] = entity_hex_id(entity.id, entity.created_at)
    out["created_at"] = micros_to_iso(entity.created_at)
    out["updated_at"] = micros_to_iso(entity.updated_at)
    return out


CSV_COLUMNS = (
    "id",
    "seq",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_name",
    "actor_email",
    "action",
    "subject_type",
    "subject_id",
    "scopes",
    "changes",
    "hash",
)


def csv_row(event: Event) -> list[Any]:
    actor = event.actor
    return [
        event.id,
        event.seq,
        micros_to_iso(event.occurred_at),
        micros_to_iso(event.recorded_at),
        actor.id if actor else "",
        actor.name if actor else "",
        actor.email if actor else "",
        event.action.value,
        event.subject_type.value,
        event.subject_id,
        " ".join(str(s) for s in event.scopes),
        orjson.dumps(list(event.changes)).decode(),
        event.hash,
    ]


def iter_csv(events: Iterable[Event], batch: int = 500) -> Iterator[bytes]:
    """CSV (RFC 4180) with a header row, yielded in chunks of `batch` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for count, event in enumerate(events, 1):
        writer.writerow(csv_row(event))
        if count % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def iter_ndjson(events: Iterable[Event], batch: int = 500) -> Iterator[bytes]:
    chunk: list[bytes] = []
    for event in events:
        chunk.append(orjson.dumps(event_json(event)))
        if len(chunk) >= batch:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"
