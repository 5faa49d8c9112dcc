"""Each API's error shape, checked: what a client of that API expects an error to look like.

`assert_error(family, response, status)` checks the status and the shape and returns the
error's message, so a test can say what it must mention.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("native", "asana", "tracker", "worksection", "huddle", "kantata")

# words that would mean an error leaked the server's internals
INTERNALS = ("Traceback", "sqlalchemy", "psycopg", "sqlite3", 'File "', "RecursionError")


def assert_error(family: str, response: Any, status: int) -> str:
    assert response.status_code == status, (family, response.status_code, response.text[:500])
    for word in INTERNALS:
        assert word not in response.text, (family, word, response.text[:500])
    body = response.json()
    return CHECKS[family](response, body)


def _native(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    assert body["status"] == response.status_code
    assert body["type"] == "about:blank" and body["title"] and body["detail"]
    return str(body["detail"])


def _asana(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"].startswith("application/json")
    errors = body["errors"]
    assert isinstance(errors, list) and errors and errors[0]["message"]
    return str(errors[0]["message"])


def _tracker(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"].startswith("application/json")
    assert body["statusCode"] == response.status_code
    assert isinstance(body["errors"], dict) and body["errorMessages"]
    return str(body["errorMessages"][0])


def _worksection(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"].startswith("application/json")
    assert body["status"] == "error" and isinstance(body["status_code"], int)
    return f"{body['message']}: {body.get('message_details', '')}"


def _huddle(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"] == "application/vnd.huddle.error+json"
    assert body["statusCode"] == response.status_code and body["errorCode"]
    return str(body["errorMessages"][0])


def _kantata(response: Any, body: dict[str, Any]) -> str:
    assert response.headers["content-type"].startswith("application/json")
    errors = body["errors"]
    assert errors and errors[0]["type"] in ("oauth", "validation", "system")
    return str(errors[0]["message"])


CHECKS = {
    "native": _native,
    "asana": _asana,
    "tracker": _tracker,
    "worksection": _worksection,
    "huddle": _huddle,
    "kantata": _kantata,
}
