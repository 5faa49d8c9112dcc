"""Worksection request parameters: from the query string and a form or JSON body.

Worksection clients put parameters in the query string (the documented form, and the
Postman collection even for POST), in a urlencoded or multipart body, or, like the
official Python SDK, `action` in the query string and the rest in a JSON body. All of them
are accepted; a name given in the query string wins over the body.

Besides the values, the parameters are kept as the `k=v` pairs they arrived as, because
the v2 admin signature is an md5 over exactly that text (see auth.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

import orjson
from fastapi import Request
from starlette.exceptions import HTTPException

from ...web.jsonbody import InvalidJson, decode_json
from .errors import FIELD_REQUIRED, WorksectionError, client_error

SIGNATURE_PARAM = "hash"


@dataclass
class Params:
    """Parameter values plus the pairs an md5 signature covers (everything but `hash`)."""

    values: dict[str, str] = field(default_factory=dict)
    raw_pairs: list[str] = field(default_factory=list)  # as sent (percent-encoded)
    decoded_pairs: list[str] = field(default_factory=list)  # percent-decoded

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def add_encoded(self, text: str) -> None:
        """Add the pairs of an application/x-www-form-urlencoded string."""
        for segment in text.split("&"):
            if not segment:
                continue
            name = unquote_plus(segment.partition("=")[0])
            if name != SIGNATURE_PARAM:
                self.raw_pairs.append(segment)
                self.decoded_pairs.append(unquote_plus(segment))
        for name, value in parse_qsl(text, keep_blank_values=True):
            self.values.setdefault(name, value)

    def add_decoded(self, pairs: list[tuple[str, str]]) -> None:
        """Add pairs that arrived already decoded (JSON or multipart bodies)."""
        for name, value in pairs:
            if name != SIGNATURE_PARAM:
                self.raw_pairs.append(f"{name}={value}")
                self.decoded_pairs.append(f"{name}={value}")
            self.values.setdefault(name, value)


def query_params(request: Request) -> Params:
    """The parameters of the request's query string."""
    params = Params()
    # Undecodable bytes survive as surrogates, so a signature over them still verifies.
    params.add_encoded(request.scope.get("query_string", b"").decode("utf-8", "surrogateescape"))
    return params


async def read_params(request: Request) -> Params:
    """The request's parameters: query string first, then the body."""
    params = query_params(request)
    if request.method == "GET":
        return params
    body = await request.body()  # its size is limited as it is read (web/limits.py)
    if not body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        params.add_decoded(_json_pairs(body))
    elif content_type == "application/x-www-form-urlencoded":
        params.add_encoded(_text(body))
    elif content_type == "multipart/form-data":
        try:
            form = await request.form()
        except HTTPException as exc:
            raise _bad_body(str(exc.detail))
        params.add_decoded([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    return params


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def _json_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        data = decode_json(body)
    except InvalidJson as exc:
        raise _bad_body(f"the request body is not JSON worktrail accepts: {exc.detail}")
    if not isinstance(data, dict):
        raise _bad_body("the JSON body must be an object of parameters")
    return [(str(name), _scalar(value)) for name, value in data.items()]


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _bad_body(details: str) -> WorksectionError:
    return client_error(FIELD_REQUIRED, "Request body is invalid", details)
