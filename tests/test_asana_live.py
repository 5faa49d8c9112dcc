"""Asana's events API over a real socket: the official Python SDK and the README section."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asana
import httpx
import pytest
from asana.rest import ApiException

from worktrail.auth import create_token
from worktrail.store import Store
from worktrail.testing.server import serve
from worktrail.write import create_organization

from .readme import bash_blocks, section

SECTION = section("### Asana")


class Native:
    """Writes through the native API of a live server."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )

    def send(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.client.request(method, path, json=body)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def create(self, kind: str, **fields: Any) -> int:
        return int(self.send("POST", f"/{kind}", fields)["id"])

    def close(self) -> None:
        self.client.close()


@contextmanager
def events_api(base_url: str, token: str) -> Iterator[Any]:
    """The SDK's EventsApi pointed at worktrail; its connections closed afterwards."""
    config = asana.Configuration()
    config.host = f"{base_url}/api/1.0"
    config.access_token = token
    client = asana.ApiClient(config)
    try:
        yield asana.EventsApi(client)
    finally:
        client.rest_client.pool_manager.clear()


@contextmanager
def live(database_url: str, tmp_path: Path, token: str) -> Iterator[tuple[str, Native]]:
    with serve(database_url, tmp_path) as server:
        native = Native(server.base_url, token)
        try:
            yield server.base_url, native
        finally:
            native.close()


def first_sync(api: Any, resource: str) -> str:
    with pytest.raises(ApiException) as first:
        api.get_events(resource, {}, full_payload=True)
    assert first.value.status == 412
    body = json.loads(first.value.body)
    assert body["errors"][0]["message"].startswith("Sync token invalid or too old.")
    token: str = body["sync"]
    return token


def test_official_sdk_follows_the_stream(database_url: str, store: Store, tmp_path: Path) -> None:
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "sdk")
    with (
        live(database_url, tmp_path, token) as (base_url, native),
        events_api(base_url, token) as api,
    ):
        space = native.create("workspaces", name="Engineering")
        project = native.create("projects", name="Launch", workspace=space)
        sync = first_sync(api, str(project))

        task = native.create("tasks", name="Draft plan", project=project)
        tags = [f"tag{i:03}" for i in range(120)]
        native.send("POST", f"/tasks/{task}/tags", {"add": tags})
        sub = native.create("tasks", name="Outline", parent=task)
        native.create("comments", task=sub, text="First!")
        native.send("POST", f"/tasks/{task}/close")

        pages = []
        while True:
            page = api.get_events(str(project), {"sync": sync}, full_payload=True)
            pages.append(page)
            sync = page["sync"]
            if not page["has_more"]:
                break
        assert [len(p["data"]) for p in pages] == [100, 24]
        events = [e for p in pages for e in p["data"]]
        assert [(e["action"], e["resource"]["resource_type"]) for e in events[:2]] == [
            ("added", "task"),
            ("changed", "task"),
        ]
        assert [e["change"]["added_value"]["name"] for e in events[1:121]] == tags
        assert [(e["action"], e["type"]) for e in events[121:]] == [
            ("added", "task"),
            ("added", "story"),
            ("changed", "task"),
        ]
        assert events[0]["parent"] == {
            "gid": str(project),
            "resource_type": "project",
            "name": "Launch",
        }
        assert events[0]["user"] == {
            "gid": str(created.owner_id),
            "resource_type": "user",
            "name": "Henry Gardner",
        }
        assert events[-1]["change"] == {
            "field": "completed",
            "action": "changed",
            "new_value": True,
        }
        assert all(
            re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["created_at"]) for e in events
        )

        # The same token again: the same page.
        again = api.get_events(str(project), {"sync": pages[0]["sync"]}, full_payload=True)
        assert again["data"] == pages[1]["data"] and again["has_more"] is False

        # The SDK's default iterator (it sends limit=100) reads a page from a token, and
        # subscribes on its own from no token: 412, then an empty stream from "now".
        native.send("PATCH", f"/tasks/{sub}", {"notes": "iterated"})
        native.send("PATCH", f"/tasks/{task}", {"name": "Final plan"})
        items = list(api.get_events(str(project), {"sync": sync}))
        assert [e["change"]["new_value"] for e in items] == ["iterated", "Final plan"]
        assert list(api.get_events(str(project), {})) == []

        # opt_fields as the SDK sends them (one comma-separated string).
        fields = "action,resource.name"
        [picked, _] = api.get_events(
            str(project), {"sync": sync, "opt_fields": fields}, full_payload=True
        )["data"]
        assert picked == {
            "action": "changed",
            "resource": {"gid": str(sub), "resource_type": "task", "name": "Outline"},
        }

        # Errors reach the SDK as ApiException with Asana's body.
        with pytest.raises(ApiException) as unknown:
            api.get_events("987654321", {"sync": sync}, full_payload=True)
        assert unknown.value.status == 404
        assert json.loads(unknown.value.body)["errors"][0]["message"] == (
            "resource: Unknown object: 987654321"
        )
        with (
            events_api(base_url, "wt_not-a-token") as stranger,
            pytest.raises(ApiException) as denied,
        ):
            stranger.get_events(str(project), {}, full_payload=True)
        assert denied.value.status == 401


def test_readme_section_runs_against_a_live_server(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    blocks = bash_blocks(SECTION)
    assert len(blocks) == 2
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "readme")
    with live(database_url, tmp_path, token) as (base_url, native):
        native.create("projects", name="Launch", workspace=native.create("workspaces", name="W"))
        script = "set -eu\n" + "\n".join(blocks).replace("http://127.0.0.1:8000", base_url)
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert '"message":"Sync token invalid or too old.' in out
    pretty = out[out.index('{\n  "data"') :]
    body = json.loads(pretty[: pretty.index("\n}") + 2])
    assert [e["action"] for e in body["data"]] == ["added", "changed", "changed"]
    assert body["has_more"] is False
    followed = [json.loads(line) for line in pretty[pretty.index("\n}") + 2 :].splitlines()]
    task = {k: body["data"][0]["resource"][k] for k in ("gid", "resource_type")}
    assert followed == [
        {"action": "added", "resource": {**task, "name": "Check the feed"}},
        {
            "action": "changed",
            "resource": {**task, "name": "Checked the feed"},
            "change": {"field": "name"},
        },
        {
            "action": "changed",
            "resource": {**task, "name": "Checked the feed"},
            "change": {"field": "completed"},
        },
    ]
