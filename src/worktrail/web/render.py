"""Native renderings of events and entities: JSON objects, NDJSON lines, CSV rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from ..diff import micros_to_iso
from ..model import EntityRow, Event, StoredEvent, entity_hex_id, event_id
from ..store import event_from_row


def event_json(event: Event) -> dict[str, Any]:
    out = {
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
    if event.personal:
        out["personal"] = event.personal
    return out


# The stored document (StoredEvent.data) holds actor, changes, before, after, context and
# scopes exactly as event_json renders them, so an event's JSON is its columns' JSON spliced
# with the stored document (and its personal map): no parsing and no re-serializing of the
# large before/after states. Documents of other schema versions are upgraded on read
# through event_json.
SPLICED_SCHEMA_VERSIONS = (1, 2)


def stored_event_json(event: StoredEvent) -> bytes:
    """event_json(event) as JSON bytes, straight from the stored row."""
    if event.schema_version not in SPLICED_SCHEMA_VERSIONS:
        return orjson.dumps(event_json(event_from_row(event)))
    head = orjson.dumps(
        {
            "id": event_id(event.org_id, event.seq),
            "org_id": event.org_id,
            "seq": event.seq,
            "occurred_at": micros_to_iso(event.occurred_at),
            "recorded_at": micros_to_iso(event.recorded_at),
            "action": event.action,
            "subject": {"type": event.subject_type, "id": event.subject_id},
            "idempotency_key": event.idempotency_key,
            "schema_version": event.schema_version,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
    )
    if event.personal:
        return b"".join(
            (
                head[:-1],
                b",",
                event.data[1:-1].encode(),
                b',"personal":',
                event.personal.encode(),
                b"}",
            )
        )
    return head[:-1] + b"," + event.data[1:].encode()


def events_page_json(events: Iterable[StoredEvent], extra: dict[str, Any]) -> bytes:
    """{"data": [events...], **extra} with the events spliced from their stored rows."""
    data = b",".join(stored_event_json(e) for e in events)
    return b'{"data":[' + data + b"]," + orjson.dumps(extra)[1:]


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


def stored_csv_line(event: StoredEvent) -> str:
    """csv_line(csv_row(event)) from the stored row, reading only what CSV shows of the
    document, in one format string: of the thirteen fields only the actor's name and email
    and the changes' JSON can hold a quote, comma or line break (the rest are numbers,
    times, hashes, enum values and "type:id" scopes)."""
    if event.schema_version not in SPLICED_SCHEMA_VERSIONS:
        return csv_line(csv_row(event_from_row(event)))
    actor, scopes, changes = _csv_parts(event.data)
    if actor:
        who = f"{actor['id']},{_csv_field(actor['name'])},{_csv_field(actor['email'])}"
    else:
        who = ",,"
    return (
        f"{event_id(event.org_id, event.seq)},{event.seq},{micros_to_iso(event.occurred_at)},"
        f"{micros_to_iso(event.recorded_at)},{who},{event.action},{event.subject_type},"
        f"{event.subject_id},{' '.join(scopes)},{_csv_field(changes)},{event.hash}\r\n"
    )


def _csv_parts(data: str) -> tuple[dict[str, Any] | None, list[str], str]:
    """The actor, the scopes and the changes (as JSON text) of a stored document, without
    parsing its before and after states, the bulk of it.

    The document is orjson's serialization of {"actor", "changes", "before", "after",
    "context", "scopes"} in that order. Inside a JSON string every quote is escaped, so an
    unescaped `,"changes":` or `"before":` can only be a key: the first `,"changes":` ends
    the actor (whose own keys are id, name and email), and when `"before":` occurs once it
    is the top-level key that follows the changes. The scopes ("type:id" strings) are the
    last value. When a nested object has a key "before" too, the document is parsed whole.
    """
    if data.count('"before":') != 1:
        parsed = orjson.loads(data)
        return parsed["actor"], parsed["scopes"], orjson.dumps(parsed["changes"]).decode()
    actor_end = data.index(',"changes":')
    changes_end = data.index(',"before":', actor_end)
    scopes_start = data.rindex(',"scopes":')
    return (
        orjson.loads(data[9:actor_end]),  # after {"actor":
        orjson.loads(data[scopes_start + 10 : -1]),
        data[actor_end + 11 : changes_end],
    )


def iter_csv(chunks: Iterable[list[StoredEvent]]) -> Iterator[bytes]:
    """CSV (RFC 4180) with a header row, one piece per chunk of stored events.

    Lines are joined here rather than by the csv module, which takes several times longer
    over the quoted JSON of the changes column; csv_line quotes as its QUOTE_MINIMAL does.
    """
    yield csv_line(CSV_COLUMNS).encode()
    for chunk in chunks:
        yield "".join([stored_csv_line(e) for e in chunk]).encode()


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record with its CRLF: fields with a quote, comma or line break are quoted."""
    return ",".join([_csv_field(v) for v in values]) + "\r\n"


def _csv_field(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def iter_ndjson(chunks: Iterable[list[StoredEvent]]) -> Iterator[bytes]:
    """One JSON event a line, one piece per chunk of stored events."""
    for chunk in chunks:
        yield b"\n".join(stored_event_json(e) for e in chunk) + b"\n"
