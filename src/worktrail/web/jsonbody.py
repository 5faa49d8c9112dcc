"""The one JSON decoder of every write path, and its limits.

A request body becomes Python values here, or a clear 422 that names the limit it broke and
where (as a JSON pointer): nothing a client sends reaches the write path in a shape that a
later step (hashing, a dialect's rendering, the database) could choke on. The limits:

- nesting: at most MAX_DEPTH levels of objects and arrays, the body's own included;
- strings at most MAX_STRING characters, object keys at most MAX_KEY; no U+0000 (the
  databases cannot keep it in text) and no lone surrogates (not Unicode);
- arrays at most MAX_ARRAY items, objects at most MAX_MEMBERS members, no member twice;
- integers within signed 64 bits; no NaN, Infinity or numbers too large for a double.

Nothing is changed silently: a value is kept exactly or refused. The size of the body as a
whole is limited before it is read (web/limits.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from ..errors import InvalidInput, UnsupportedMediaType

MAX_DEPTH = 32
MAX_STRING = 100_000
MAX_KEY = 200
MAX_ARRAY = 10_000
MAX_MEMBERS = 1_000
MIN_INT, MAX_INT = -(2**63), 2**63 - 1

LIMITS_TEXT = (
    f"nesting at most {MAX_DEPTH} levels, strings at most {MAX_STRING:,} characters, keys at "
    f"most {MAX_KEY}, arrays at most {MAX_ARRAY:,} items, objects at most {MAX_MEMBERS:,} "
    "members, integers within signed 64 bits"
)


class InvalidJson(InvalidInput):
    """The body is not JSON worktrail accepts; the detail says why and where."""

    title = "Invalid JSON"


def decode_json(raw: bytes) -> Any:
    """The value of a JSON document, checked against every limit of this module."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the body is not valid UTF-8 (byte {exc.start})")
    if text.startswith("\ufeff"):
        raise InvalidJson("the body starts with a byte order mark; send plain UTF-8")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise InvalidJson(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", pointer=""
        )
    except RecursionError:
        raise InvalidJson(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    except _Refused as exc:
        raise InvalidJson(str(exc))
    # NUL and lone surrogates can only come from \u escapes: most bodies skip those checks
    escapes = "\\u" in text
    if not _within_limits(value, 1, escapes):
        for pointer, problem in _problems(value):
            raise InvalidJson(problem, pointer=pointer)
    return value


class _Refused(ValueError):
    """Raised from the parser's hooks; becomes an InvalidJson without a pointer."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"the member {key[:40]!r} appears twice in one object")
            seen.add(key)
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is too large for a double")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON number; send null or a finite number")


def _within_limits(item: Any, depth: int, escapes: bool) -> bool:
    """Whether `item` keeps every limit: the fast check of every body, one pass without
    pointers (`_problems` says where, when it fails). It runs over every value of a batch,
    so it is written for speed: loops, no calls for plain strings and numbers; NUL and
    surrogates are looked for only when the body has \\u escapes, the only way in for them."""
    if type(item) is dict:
        if depth > MAX_DEPTH or len(item) > MAX_MEMBERS:
            return False
        for key, child in item.items():
            if len(key) > MAX_KEY or (escapes and _string_problem(key, MAX_KEY)):
                return False
            if not _value_within_limits(child, depth, escapes):
                return False
        return True
    if type(item) is list:
        if depth > MAX_DEPTH or len(item) > MAX_ARRAY:
            return False
        for child in item:  # noqa: SIM110 (a loop: all() over a generator is slower here)
            if not _value_within_limits(child, depth, escapes):
                return False
        return True
    return _value_within_limits(item, depth - 1, escapes)


def _value_within_limits(child: Any, depth: int, escapes: bool) -> bool:
    """`_within_limits` of a member or item of a container at `depth`."""
    kind = type(child)
    if kind is str:
        return len(child) <= MAX_STRING and not (escapes and _string_problem(child, MAX_STRING))
    if kind is int:
        return bool(MIN_INT <= child <= MAX_INT)
    if kind is dict or kind is list:
        return _within_limits(child, depth + 1, escapes)
    return True


def _problems(value: Any) -> Iterator[tuple[str, str]]:
    """(JSON pointer, what is wrong) for each value over a limit, depth first."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, pointer, depth = stack.pop()
        problem = _problem(item, depth)
        if problem:
            yield pointer, _where(pointer) + problem
        elif isinstance(item, dict):
            for key, child in item.items():
                here = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
                key_problem = _string_problem(key, MAX_KEY)
                if key_problem:
                    yield here, f"{_where(here)}the member's name is {key_problem}"
                else:
                    stack.append((child, here, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{pointer}/{i}", depth + 1) for i, child in enumerate(item))


def _problem(item: Any, depth: int) -> str | None:
    """What is wrong with one value itself (not its children), if anything."""
    if isinstance(item, str):
        return _string_problem(item, MAX_STRING)
    if item is None or isinstance(item, bool | float):
        return None
    if isinstance(item, int):
        return None if MIN_INT <= item <= MAX_INT else "an integer outside signed 64 bits"
    return _container_problem(item, depth)


def _container_problem(item: list[Any] | dict[str, Any], depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(item, list) and len(item) > MAX_ARRAY:
        return f"an array of {len(item):,} items; at most {MAX_ARRAY:,} are allowed"
    if isinstance(item, dict) and len(item) > MAX_MEMBERS:
        return f"an object of {len(item):,} members; at most {MAX_MEMBERS:,} are allowed"
    return None


def _string_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"a string of {len(text):,} characters; at most {limit:,} are allowed"
    if "\x00" in text:
        return "a string with a NUL character (U+0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a string with a lone surrogate, which is not Unicode"
    return None


def _where(pointer: str) -> str:
    return f"at {pointer}: " if pointer else ""


async def read_json(request: Request) -> Any:
    """The request's body decoded by `decode_json` (its size is limited by web/limits.py
    as it is read)."""
    raw = await request.body()
    if not raw:
        raise InvalidJson("the request has no body; send a JSON object")
    return decode_json(raw)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object: the dependency of every native write route."""
    content_type = request.headers.get("content-type", "")
    if content_type and not _is_json(content_type):
        raise UnsupportedMediaType(
            f"the body must be JSON (Content-Type: application/json), not {content_type[:60]!r}"
        )
    value = await read_json(request)
    if not isinstance(value, dict):
        raise InvalidJson("the body must be a JSON object")
    return value


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
