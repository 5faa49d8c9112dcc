"""Asana's webhook filters: which of the watched resource's events a webhook is sent.

A filter names any of `resource_type`, `resource_subtype`, `action` and `fields` (the
changed field, with `action: changed` only); an event is sent when it matches every key of
at least one filter, and every event is sent when there are none. Webhooks on a workspace
must have filters, may not filter on `fields`, and get no task or story events (Asana's
rules). Checked when a webhook is written (`check_filters`), applied to each Asana event
before it is sent (`chosen`).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request

AsanaEvent = dict[str, Any]

FILTER_KEYS = ("resource_type", "resource_subtype", "action", "fields")
# what worktrail's Asana events are about (render.py), and what they do to it
EVENT_TYPES = ("project", "task", "story")
ACTIONS = ("changed", "added", "removed", "deleted", "undeleted")
WORKSPACE_TYPES = ("project",)  # a workspace webhook's events
MAX_FILTERS = 100
NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
FILTERS_HELP = (
    'Send "filters" as a list of objects such as {"resource_type": "task", "action": '
    '"changed", "fields": ["due_on"]}; an event is sent if it matches any of them.'
)
WORKSPACE_HELP = "Webhooks on a workspace get project events only, and need filters."


def check_filters(raw: Any, watched: str) -> list[dict[str, Any]]:
    """The filters of a webhook on a resource of Asana type `watched`, as stored (400
    naming the first thing wrong)."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise bad_request("filters: Must be a list of filter objects", FILTERS_HELP)
    if len(raw) > MAX_FILTERS:
        raise bad_request(f"filters: At most {MAX_FILTERS} filters", FILTERS_HELP)
    if watched == "workspace" and not raw:
        raise bad_request("filters: Webhooks on a workspace must have filters", WORKSPACE_HELP)
    return [_check_filter(item, f"filters[{i}]", watched) for i, item in enumerate(raw)]


def _check_filter(item: Any, where: str, watched: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request(f"{where}: Must be an object", FILTERS_HELP)
    unknown = sorted(set(item) - set(FILTER_KEYS))
    if unknown:
        raise bad_request(
            f"{where}.{unknown[0]}: Unknown field; a filter takes {', '.join(FILTER_KEYS)}",
            FILTERS_HELP,
        )
    types = WORKSPACE_TYPES if watched == "workspace" else EVENT_TYPES
    out: dict[str, Any] = {}
    for key, choices in (("resource_type", types), ("action", ACTIONS)):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or value not in choices:
            raise bad_request(
                f"{where}.{key}: {value!r} is not one of {', '.join(choices)}",
                WORKSPACE_HELP if watched == "workspace" else FILTERS_HELP,
            )
        out[key] = value
    subtype = item.get("resource_subtype")
    if subtype is not None:
        out["resource_subtype"] = _name(subtype, f"{where}.resource_subtype")
    if item.get("fields") is not None:
        out["fields"] = _fields(item["fields"], f"{where}.fields", out, watched)
    if not out:
        raise bad_request(
            f"{where}: An empty filter; name at least one of {', '.join(FILTER_KEYS)}",
            FILTERS_HELP,
        )
    return out


def _fields(raw: Any, where: str, checked: dict[str, Any], watched: str) -> list[str]:
    if watched == "workspace":
        raise bad_request(
            f"{where}: Webhooks on a workspace cannot filter on fields", WORKSPACE_HELP
        )
    if checked.get("action") != "changed":
        raise bad_request(f'{where}: Only valid with "action": "changed"', FILTERS_HELP)
    if not isinstance(raw, list) or not raw:
        raise bad_request(f"{where}: Must be a non-empty list of field names", FILTERS_HELP)
    return list(dict.fromkeys(_name(value, where) for value in raw))


def _name(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not NAME.fullmatch(raw):
        raise bad_request(
            f"{where}: {raw!r} is not a name (letters, digits and _, at most 100)", FILTERS_HELP
        )
    return raw


def chosen(events: list[AsanaEvent], options: dict[str, Any]) -> list[AsanaEvent]:
    """The Asana events a webhook with these options (its watched resource's type and
    its filters) is sent, in order."""
    if options.get("resource_type") == "workspace":
        events = [e for e in events if e["resource"]["resource_type"] in WORKSPACE_TYPES]
    filters = options.get("filters") or []
    if not filters:
        return events
    return [e for e in events if any(matches(e, f) for f in filters)]


def matches(event: AsanaEvent, rule: dict[str, Any]) -> bool:
    """Whether an Asana event matches every key of one filter."""
    resource = event["resource"]
    if "resource_type" in rule and resource["resource_type"] != rule["resource_type"]:
        return False
    if "resource_subtype" in rule and resource.get("resource_subtype") != rule["resource_subtype"]:
        return False
    if "action" in rule and event["action"] != rule["action"]:
        return False
    change = event.get("change") or {}
    return "fields" not in rule or change.get("field") in rule["fields"]
