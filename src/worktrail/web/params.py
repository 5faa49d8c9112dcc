"""Query parameters read into clear 400 errors: shared by every API of the service."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import QueryParams

from ..diff import datetime_to_micros, parse_datetime
from ..errors import BadRequest, InvalidInput, WorktrailError
from ..model import Scope


def reject_unknown(params: QueryParams, known: Iterable[str]) -> None:
    allowed = set(known)
    unknown = sorted(set(params.keys()) - allowed)
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s): {', '.join(unknown)}; "
            f"this endpoint takes {', '.join(sorted(allowed))}"
        )


def single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"'{name}' was given {len(values)} times; give it once")
    return values[0] if values else None


def int_param(params: QueryParams, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = single(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer, got {raw!r}")
    if not lo <= value <= hi:
        raise BadRequest(f"'{name}' must be between {lo} and {hi}, got {value}")
    return value


def bool_param(params: QueryParams, name: str, default: bool) -> bool:
    raw = single(params, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadRequest(f"'{name}' must be true or false, got {raw!r}")


def time_param(params: QueryParams, name: str) -> int | None:
    raw = single(params, name)
    if raw is None:
        return None
    return parse_time(raw.replace(" ", "+"), name, BadRequest)


def parse_time(raw: object, name: str, error: type[WorktrailError] = InvalidInput) -> int:
    """An ISO-8601 date-time with a zone, in microseconds; `error` naming `name` if not."""
    try:
        return datetime_to_micros(parse_datetime(raw))
    except (ValueError, TypeError, OverflowError):
        raise error(
            f"'{name}' must be an ISO-8601 date-time with a zone, e.g. 2026-01-31T09:30:00Z",
            field=name,
        )


def list_param(params: QueryParams, name: str, choices: Iterable[str]) -> tuple[str, ...]:
    allowed = tuple(choices)
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadRequest(f"'{name}' must be among {', '.join(allowed)}; got {', '.join(bad)}")
    return tuple(dict.fromkeys(values))


def ids_param(params: QueryParams, name: str) -> tuple[int, ...]:
    values: list[int] = []
    for raw in params.getlist(name):
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or len(part) > 18:
                raise BadRequest(f"'{name}' must be a comma-separated list of ids, got {part!r}")
            values.append(int(part))
    return tuple(dict.fromkeys(values))


def scope_param(params: QueryParams, name: str = "scope") -> Scope | None:
    raw = single(params, name)
    if raw is None:
        return None
    try:
        return Scope.parse(raw)
    except ValueError as exc:
        raise BadRequest(f"'{name}' {exc}")
