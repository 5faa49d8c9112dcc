"""The resources Tracker's `self` links point at: users, the token's user, fields.

Tracker clients follow these links (the official Python client dereferences a reference
when asked for a value it does not carry, and reads the field list before it shows an
issue), so they answer here too, with what worktrail knows.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from ...errors import NotFound
from ...model import MAX_ID, EntityRow, EntityType
from ...web.deps import ServicesDep
from .access import SHORT_ID, TrackerPrincipal, TrackerReader
from .errors import json_response, not_found
from .fields import DELETED, FIELDS, Lang, TrackerField, language
from .paths import tracker_get
from .render import Json, Links, cloud_uid


def render_user(links: Links, user: EntityRow) -> Json:
    name = str(user.state.get("name") or "")
    first, _, last = name.partition(" ")
    email = str(user.state.get("email") or "")
    return {
        "self": links.api(f"users/{user.id}"),
        "uid": user.id,
        "login": email.partition("@")[0],
        "trackerUid": user.id,
        "passportUid": user.id,
        "cloudUid": cloud_uid(user.id),
        "firstName": first,
        "lastName": last,
        "display": name,
        "email": email,
        "external": False,
        "dismissed": user.deleted,
    }


@tracker_get("/users/{user_id}", "get a user")
def get_user(
    user_id: str, request: Request, services: ServicesDep, reader: TrackerReader
) -> Response:
    if not (SHORT_ID.fullmatch(user_id) and 0 < int(user_id) <= MAX_ID):
        raise not_found(f"User {user_id} not found")
    return json_response(render_user(Links.of(request, services), _user(reader, int(user_id))))


@tracker_get("/myself", "the token's user")
def myself(
    request: Request, services: ServicesDep, principal: TrackerPrincipal, reader: TrackerReader
) -> Response:
    return json_response(render_user(Links.of(request, services), _user(reader, principal.user_id)))


def _user(reader: TrackerReader, user_id: int) -> EntityRow:
    try:
        return reader.entity(user_id, EntityType.USER)
    except NotFound:
        raise not_found(f"User {user_id} not found")


FIELDS_BY_ID: dict[str, TrackerField] = {
    f.id: f for table in FIELDS.values() for f in table.values()
} | {DELETED.id: DELETED}


def render_field(links: Links, field: TrackerField, lang: Lang) -> Json:
    schema: Json = {"type": field.type, "required": False}
    if field.items:
        schema["items"] = field.items
    return {
        "self": links.api(f"fields/{field.id}"),
        "id": field.id,
        "key": field.id,
        "name": field.name(lang),
        "schema": schema,
        "readonly": True,
    }


def list_fields(request: Request, services: ServicesDep, principal: TrackerPrincipal) -> Response:
    links = Links.of(request, services)
    lang = language(request.headers.get("accept-language", ""))
    return json_response([render_field(links, f, lang) for f in FIELDS_BY_ID.values()])


tracker_get("/fields", "list fields")(list_fields)
# The official client asks for the collection with a trailing slash.
tracker_get("/fields/", "list fields")(list_fields)


@tracker_get("/fields/{field_id}", "get a field")
def get_field(
    field_id: str, request: Request, services: ServicesDep, principal: TrackerPrincipal
) -> Response:
    field = FIELDS_BY_ID.get(field_id)
    if field is None:
        raise not_found(f"Field {field_id} not found")
    lang = language(request.headers.get("accept-language", ""))
    return json_response(render_field(Links.of(request, services), field, lang))
