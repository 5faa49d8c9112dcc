"""Worksection get_events over a real socket: the official Python SDK and the README section."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from worksection import Client, ResponseException, UnauthorizedException
from worksection.models.event import Event as SdkEvent

from worktrail.auth import create_token
from worktrail.store import Store
from worktrail.testing.server import serve
from worktrail.write import create_organization

from .live import printed_token
from .readme import bash_blocks, section

SECTION = section("### Worksection")


def build_history(base_url: str, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: Any = None) -> dict[str, Any]:
        response = httpx.post(f"{base_url}/api/v1/{path}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    space = post("workspaces", {"name": "Engineering"})
    project = post("projects", {"name": "Launch", "workspace": space["id"]})
    other = post("projects", {"name": "Other", "workspace": space["id"]})
    task = post("tasks", {"name": "Draft plan", "project": project["id"], "priority": "high"})
    post("tasks", {"name": "Elsewhere", "project": other["id"]})
    comment = post("comments", {"task": task["id"], "text": "First!"})
    response = httpx.patch(
        f"{base_url}/api/v1/tasks/{task['id']}", json={"name": "Final plan"}, headers=headers
    )
    assert response.status_code == 200
    post(f"tasks/{task['id']}/close")
    post(f"tasks/{task['id']}/reopen")
    response = httpx.delete(f"{base_url}/api/v1/comments/{comment['id']}", headers=headers)
    assert response.status_code == 200
    return {"project": project["id"], "other": other["id"], "task": task["id"]}


def test_official_sdk_reads_events(database_url: str, store: Store, tmp_path: Path) -> None:
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "sdk")
    org = store.get_org(created.org_id)
    assert org is not None
    with serve(database_url, tmp_path) as server:
        ids = build_history(server.base_url, token)
        client = Client(server.base_url).set_api_key(org.admin_api_key)
        data = client.events.list("1h")
        assert [(e["action"], e["object"]["type"]) for e in data] == [
            ("post", "project"),
            ("post", "project"),
            ("post", "task"),
            ("post", "task"),
            ("post", "comment"),
            ("update", "task"),
            ("close", "task"),
            ("reopen", "task"),
            ("delete", "comment"),
        ]
        events = [SdkEvent.from_dict(e) for e in data]
        assert events[2].is_post() and events[5].is_update() and events[6].is_task_close()
        assert events[7].is_task_reopen() and events[8].is_delete()
        assert events[5].new == {"title": "Final plan"}
        assert events[5].old == {"title": "Draft plan"}
        assert events[2].user_from is not None and events[2].user_from.name == "Henry Gardner"
        assert events[2].object is not None
        assert events[2].object.page == f"/project/{ids['project']}/{ids['task']}/"

        scoped = client.events.list("1d", project_id=ids["project"])
        assert len(scoped) == 7
        assert all(e["object"]["page"].startswith(f"/project/{ids['project']}/") for e in scoped)

        with pytest.raises(ResponseException, match="Field is required"):
            client.events.list("31d")
        with pytest.raises(ResponseException, match="Project is invalid"):
            client.events.list("1d", project_id=987654)
        wrong = Client(server.base_url).set_api_key("0" * 32)
        with pytest.raises(ResponseException, match="Action hash is missed or invalid"):
            wrong.events.list("1d")

        oauth = Client(server.base_url).set_access_token(token)
        assert oauth.events.list("1h") == data
        with pytest.raises(UnauthorizedException, match="invalid API token"):
            Client(server.base_url).set_access_token("wt_not-a-token").events.list("1h")


@pytest.mark.slow
def test_readme_section_runs_against_a_live_demo_server(tmp_path: Path) -> None:
    signed, oauth = bash_blocks(SECTION)
    assert "md5sum" in signed
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with serve(url, tmp_path, "--demo", "--demo-events", "3000") as server:
        token = printed_token(server.output())
        outputs = []
        for block in (signed, oauth):
            script = "set -eu\n" + block.replace("http://127.0.0.1:8000", server.base_url)
            result = subprocess.run(
                ["bash", "-c", script.replace("curl -s ", "curl -sf ")],
                env={**os.environ, "TOKEN": token},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            outputs.append(orjson.loads(result.stdout))
    for body in outputs:
        assert body["status"] == "ok", body
        assert body["data"], "the demo has activity in the window"
        dates = [e["date_added"] for e in body["data"]]
        assert dates == sorted(dates)
