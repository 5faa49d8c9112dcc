"""Yandex Tracker over a real socket: the official Python client and the README section."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from yandex_tracker_client import TrackerClient, exceptions

from worktrail.auth import create_token
from worktrail.store import Store
from worktrail.testing.server import serve
from worktrail.write import create_organization

from .readme import bash_blocks, section

SECTION = section("### Yandex Tracker: entity event history and issue changelog")


class Native:
    """Writes and reads through the native API of a live server."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )

    def send(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.request(method, path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def create(self, kind: str, **fields: Any) -> int:
        return int(self.send("POST", f"/{kind}", fields)["data"]["id"])

    def history(self, scope: str) -> list[str]:
        """The scope's event ids, oldest first, in their Tracker form."""
        params = f"scope={scope}&order=oldest&limit=1000"
        return [f"{e['id']:024x}" for e in self.send("GET", f"/events?{params}")["data"]]


@contextmanager
def live(database_url: str, tmp_path: Path, token: str) -> Iterator[tuple[str, Native]]:
    with serve(database_url, tmp_path) as server:
        native = Native(server.base_url, token)
        try:
            yield server.base_url, native
        finally:
            native.client.close()


@contextmanager
def tracker(base_url: str, **options: Any) -> Iterator[TrackerClient]:
    client = TrackerClient(base_url=base_url, retries=0, **options)
    try:
        yield client
    finally:
        client._connection.session.close()


def build_project(native: Native) -> tuple[int, int]:
    space = native.create("workspaces", name="Engineering")
    project = native.create("projects", name="Launch", workspace=space)
    task = native.create("tasks", name="Draft plan", project=project)
    for i in range(20):
        native.send("PATCH", f"/tasks/{task}", {"notes": f"draft {i}"})
    native.create("comments", task=task, text="Looks good")
    native.send("POST", f"/tasks/{task}/close")
    return project, task


def test_official_client_pages_through_a_projects_history(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    org = str(created.org_id)
    _, token = create_token(store, created.org_id, created.owner_id, "sdk")
    with live(database_url, tmp_path, token) as (base_url, native):
        project_id, task_id = build_project(native)
        expected = native.history(f"project:{project_id}")
        assert len(expected) == 24
        with tracker(base_url, token=token, org_id=org) as client:
            # The entity read, by its short id; the client then uses the 24-hex id.
            project = client.project[str(project_id)]
            hex_id = native.send("GET", f"/projects/{project_id}")["data"]["hex_id"]
            assert (project.id, project.shortId, project.entityType) == (
                hex_id,
                project_id,
                "project",
            )
            assert project.fields["summary"] == "Launch"
            assert project.createdBy.display == "Henry Gardner"

            # Forward, the last event of each page being the next `from`.
            seen: list[str] = []
            page = project.get_event_history(per_page=5)
            while True:
                seen += [e["id"] for e in page["events"]]
                if not page["hasNext"]:
                    break
                page = project.get_event_history(per_page=5, event_from=page["events"][-1]["id"])
            assert seen == expected

            # Backward, newest first; the client sends newEventsOnTop=True/False.
            seen = []
            page = project.get_event_history(per_page=7, direction="backward")
            while True:
                seen += [e["id"] for e in page["events"]]
                if not page["hasPrev"]:
                    break
                last = page["events"][-1]["id"]
                page = project.get_event_history(
                    per_page=7, direction="backward", event_from=last, new_events_on_top=False
                )
            assert seen == expected[::-1]
            on_top = project.get_event_history(
                per_page=3, direction="backward", new_events_on_top=True
            )
            assert [e["id"] for e in on_top["events"]] == expected[-3:]

            around = project.get_event_history(per_page=3, selected=expected[10])
            assert [e["id"] for e in around["events"]] == expected[9:12]
            assert around["hasPrev"] and around["hasNext"]
            event = around["events"][1]
            assert event["display"] == "Issue updated"
            assert event["changes"][0]["diff"] == "<removed>draft 7</removed><added>draft 8</added>"
            # The author is a reference the client can follow to the user.
            assert event["author"].display == "Henry Gardner"
            assert event["author"].login == "henry"

            # The issue changelog, every page through the Link headers.
            issue = client.issues[f"TASK-{task_id}"]
            assert (issue.key, issue.summary) == (f"TASK-{task_id}", "Draft plan")
            changes = list(issue.changelog.get_all(perPage=4))
            assert [c.type for c in changes] == [
                "IssueCreated",
                *["IssueUpdated"] * 20,
                "IssueCommentAdded",
                "IssueWorkflow",
            ]
            assert [f["field"].id for f in changes[-1].fields] == ["resolution"]
            assert changes[-2].comments["added"][0].display == "Looks good"

            # Errors reach the client as its exceptions, with Tracker's body.
            with pytest.raises(exceptions.NotFound) as missing:
                client.project["987654321"]
            assert missing.value.error_messages == ["Entity 987654321 not found"]
            with pytest.raises(exceptions.BadRequest) as both:
                project.get_event_history(event_from=expected[0], selected=expected[1])
            assert "from" in both.value.errors

        # The client's cloud organization mode, an IAM-style token, and API v3.
        with tracker(base_url, token=token, cloud_org_id=org) as cloud:
            assert cloud.project[hex_id].get_event_history(per_page=2)["hasNext"] is True
        with tracker(base_url, iam_token=token, cloud_org_id=org, api_version="v3") as v3:
            project = v3.project[str(project_id)]
            assert project._path == f"/v3/entities/project/{hex_id}"
            page = project.get_event_history(per_page=1, direction="backward")
            assert [e["id"] for e in page["events"]] == expected[-1:]
        with (
            tracker(base_url, token=token, org_id="987654") as stranger,
            pytest.raises(exceptions.Forbidden),
        ):
            stranger.project[str(project_id)]
        with tracker(base_url, token="wt_not-a-token", org_id=org) as anonymous:
            with pytest.raises(exceptions.TrackerServerError) as denied:
                anonymous.project[str(project_id)]
            assert denied.value.status_code == 401


def test_readme_section_runs_against_a_live_server(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    blocks = bash_blocks(SECTION)
    assert len(blocks) == 3
    created = create_organization(store, "Acme", "Henry Gardner", "henry@acme.test")
    _, token = create_token(store, created.org_id, created.owner_id, "readme")
    with live(database_url, tmp_path, token) as (base_url, native):
        project_id, task_id = build_project(native)
        expected = native.history(f"project:{project_id}")
        script = "set -eu\n" + "\n".join(blocks).replace("http://127.0.0.1:8000", base_url)
        # every curl must succeed on HTTP status too
        script = script.replace("curl -s ", "curl -sf ")
        result = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    decoder = json.JSONDecoder()
    entity, end = decoder.raw_decode(out)
    assert entity["shortId"] == project_id and entity["fields"]["summary"] == "Launch"
    newest, end2 = decoder.raw_decode(out, end)
    assert [e["id"] for e in newest["events"]] == expected[-3:][::-1]
    lines = out[end2:].splitlines()
    dated = [line for line in lines if re.match(r"\d{4}-\d\d-\d\dT.*\+0000 ", line)]
    assert len(dated) == len(expected)
    assert dated[0].endswith(" Project created") and dated[-1].endswith(" Status changed")
    around, _ = decoder.raw_decode(next(line for line in lines if line.startswith('{"events"')))
    assert [e["id"] for e in around["events"]] == expected[3:8]
    assert around["events"][0]["display"] == "Задача обновлена"
    assert f'/v2/issues/TASK-{task_id}/changelog?perPage=2>; rel="first"' in out
    assert 'rel="next"' in out and '"type":"IssueCreated"' in out
