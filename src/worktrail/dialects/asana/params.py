"""What Asana's routes read alike: query parameters given once, boolean options, and gids
that name an entity of the organization."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from ...errors import NotFound
from ...model import EntityRow
from ...query import EntityHidden, Reader
from .errors import ERRORS_HELP, bad_request, unknown_object

MAX_GID_DIGITS = 19


def single(qp: QueryParams, name: str) -> str | None:
    """A query parameter that may be given once (400 if it is repeated)."""
    values = qp.getlist(name)
    if len(values) > 1:
        raise bad_request(f"{name}: Given {len(values)} times; give it once")
    return values[0] if values else None


def flag(qp: QueryParams, name: str) -> bool:
    """Asana's boolean options: present without a value means true."""
    raw = single(qp, name)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in ("", "true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_request(f"{name}: Not a boolean: {raw!r}")


def parse_gid(name: str, raw: object, help_text: str | None = ERRORS_HELP) -> int:
    """The id a gid names (400 unless it is a string of at most 19 digits)."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= MAX_GID_DIGITS:
        return int(raw)
    raise bad_request(f"{name}: Not a valid gid: {raw!r}", help_text)


def locate(
    reader: Reader, name: str, gid: object, help_text: str | None = ERRORS_HELP
) -> tuple[EntityRow, bool]:
    """The entity `gid` names, and whether the principal may not read it (the caller
    decides when to say so): 400 if `gid` is not a gid, 404 if nothing has it."""
    entity_id = parse_gid(name, gid, help_text)
    try:
        return reader.entity(entity_id), False
    except EntityHidden as exc:
        return exc.entity, True
    except NotFound:
        raise unknown_object(name, str(gid))
