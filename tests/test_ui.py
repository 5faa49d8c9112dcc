"""The web UI through HTTP, on both databases: signing in, sessions and CSRF, what the
pages show and hide, filters and search, entity pages, exports and the live feed.
(tests/test_ui_browser.py drives the same pages in a real browser.)"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from worktrail.config import Settings
from worktrail.store import Store
from worktrail.web.security import UI_CSP

from .conftest import Org, Tree

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, token: str) -> TestClient:
    form = client.get("/login")
    assert form.status_code == 200
    csrf = CSRF.search(form.text)
    assert csrf is not None
    response = client.post(
        "/login", data={"token": token, "csrf": csrf[1], "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(autouse=True)
def verifications_end(org: Org) -> Iterator[None]:
    """The integrity badge verifies small histories in a thread: done before the store
    closes."""
    yield
    org.client.app.state.ui.integrity.wait()  # type: ignore[attr-defined]
    org.client.app.state.ui.tallies.wait()  # type: ignore[attr-defined]


@pytest.fixture
def browser(settings: Settings, store: Store, org: Org) -> TestClient:
    """A second client of the same app, like a browser: cookies, no token header."""
    client = TestClient(org.client.app, raise_server_exceptions=False)
    return sign_in(client, org.token)


def csrf_of(page: Any) -> str:
    found = CSRF.search(page.text)
    assert found is not None
    return found[1]


# -- signing in --------------------------------------------------------------------------


def test_pages_need_a_session_and_sign_in_sets_a_safe_cookie(org: Org) -> None:
    client = org.client
    for path in ("/", "/tasks/1", "/?action=closed", "/export.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2F")
    form = client.get("/login")
    assert form.headers["content-type"].startswith("text/html")
    assert form.headers["content-security-policy"] == UI_CSP
    assert "'unsafe-inline'" not in UI_CSP and "script-src 'self'" in UI_CSP
    response = client.post(
        "/login",
        data={"token": org.token, "csrf": csrf_of(form), "next": "/?action=closed"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/?action=closed"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and org.token not in cookie
    page = client.get("/")
    assert page.status_code == 200 and "Acme Owner" in page.text


def test_wrong_tokens_and_forged_forms_are_refused(org: Org) -> None:
    client = org.client
    form = client.get("/login")
    wrong = client.post("/login", data={"token": "wt_nope", "csrf": csrf_of(form)})
    assert wrong.status_code == 401 and "That token is not valid" in wrong.text
    assert "worktrail_session" not in wrong.headers.get("set-cookie", "")
    too_long = client.post("/login", data={"token": "x" * 300, "csrf": csrf_of(form)})
    assert too_long.status_code == 400 and "form" in too_long.text
    forged = client.post("/login", data={"token": org.token, "csrf": "forged"})
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
    assert client.get("/", follow_redirects=False).status_code == 303
    # a sign-in never leads away from the site
    response = client.post(
        "/login",
        data={"token": org.token, "csrf": csrf_of(client.get("/login")), "next": "//evil.test"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_sign_out_needs_the_forms_token_and_revoking_the_token_ends_sessions(
    org: Org, browser: TestClient
) -> None:
    page = browser.get("/")
    assert browser.post("/logout", data={"csrf": "x"}).status_code == 403
    assert browser.get("/").status_code == 200
    out = browser.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert browser.get("/", follow_redirects=False).status_code == 303
    sign_in(browser, org.token)
    assert browser.get("/").status_code == 200
    token_id = org.get("/api/v1/tokens").json()["data"][0]["id"]
    org.post(f"/api/v1/tokens/{token_id}/revoke")
    assert browser.get("/", follow_redirects=False).status_code == 303


# -- the timeline --------------------------------------------------------------------------


def test_the_timeline_shows_changes_in_words_and_escapes_user_text(
    org: Org, tree: Tree, browser: TestClient
) -> None:
    task = org.create(
        "tasks", name="<script>alert(1)</script>", project=tree.project, tags=["docs"]
    )
    org.patch(f"/api/v1/tasks/{task['id']}", json={"due_on": "2026-12-03"})
    org.patch(f"/api/v1/tasks/{task['id']}", json={"due_on": "2026-12-10"})
    org.post(f"/api/v1/tasks/{task['id']}/tags", json={"add": ["blocked"], "remove": ["docs"]})
    page = browser.get("/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == UI_CSP
    assert page.headers["server-timing"].startswith("app;dur=")
    text = page.text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text.replace('<script src="/assets/app.js" defer></script>', "")
    assert re.search(r"due date</span>\s*<span class=\"old\">3 Dec", text)
    assert "10 Dec" in text
    assert "+blocked" in text and "\u2212docs" in text
    assert f'href="/tasks/{task["id"]}"' in text
    assert 'style="' not in text  # no inline styles: the CSP would refuse them


def test_filters_facets_paging_and_the_chart(org: Org, tree: Tree, browser: TestClient) -> None:
    for i in range(30):
        org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": f"step {i}"})
    org.post(f"/api/v1/tasks/{tree.task}/close")
    page = browser.get("/", params={"type": "task", "action": "updated"})
    assert page.status_code == 200
    assert re.search(r"<strong>30</strong> events\s*match", page.text)
    assert page.text.count('<li class="event') == 25
    older = re.search(r'href="([^"]+)" rel="next"', page.text)
    assert older is not None
    second = browser.get(older[1].replace("&amp;", "&"))
    assert second.text.count('<li class="event') == 5
    assert 'rel="prev"' in second.text and "step 4" in second.text
    newer = re.search(r'href="([^"]+)" rel="prev"', second.text)
    assert newer is not None
    back = browser.get(newer[1].replace("&amp;", "&"))
    assert back.text.count('<li class="event') == 25 and "step 29" in back.text
    # facet counts of the filter, the chart's bars narrow the time range
    assert re.search(r"updated</span> <span class=\"n\">30</span>", page.text)
    bar = re.search(r'<a href="(/\?[^"]*after=[^"]*before=[^"]*)" aria-label', page.text)
    assert bar is not None
    narrowed = browser.get(bar[1].replace("&amp;", "&"))
    assert narrowed.status_code == 200 and "30</strong>" in narrowed.text
    empty = browser.get("/", params={"action": "restored"})
    assert (
        "No events match these filters" in empty.text and 'href="/">Clear the filters' in empty.text
    )
    bad = browser.get("/", params={"action": "exploded"})
    assert bad.status_code == 400 and "exploded" in bad.text
    assert bad.headers["content-type"].startswith("text/html")


def test_a_first_count_that_takes_long_comes_with_the_next_view(
    org: Org, tree: Tree, browser: TestClient
) -> None:
    tallies = org.client.app.state.ui.tallies  # type: ignore[attr-defined]
    tallies.wait_seconds = 0  # as if counting the history took longer than a page waits
    first = browser.get("/", params={"type": "comment"})
    assert first.status_code == 200 and "First!" in first.text  # the events themselves
    if "Counting the events" in first.text:
        assert '<figure class="chart">' not in first.text
    tallies.wait()
    again = browser.get("/", params={"type": "comment"})
    assert re.search(r"<strong>1</strong> event\s*match", again.text)
    assert '<figure class="chart">' in again.text


def test_search_qualifiers_become_url_parameters(org: Org, tree: Tree, browser: TestClient) -> None:
    ana, _ = org.user("Ana Lima")
    org.create("projects", name="Apollo", workspace=tree.workspace)
    search = 'actor:ana action:closed project:Apollo field:due_on after:2026-11-01 "release notes"'
    response = browser.get("/", params={"q": search}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert f"actor={ana}" in location and "action=closed" in location
    assert "scope=project%3A" in location and "field=due_on" in location
    assert "after=2026-11-01" in location and "text=release+notes" in location
    assert browser.get(location).status_code == 200
    unknown = browser.get("/", params={"q": "colour:red"})
    assert unknown.status_code == 400
    assert "unknown qualifier &#39;colour:&#39;" in unknown.text and "actor:" in unknown.text
    nobody = browser.get("/", params={"q": "actor:zed"})
    assert nobody.status_code == 400 and "no user matches" in nobody.text


# -- entity pages ---------------------------------------------------------------------------


def test_entity_pages_show_state_history_diffs_and_the_past(
    org: Org, tree: Tree, browser: TestClient
) -> None:
    long_before = "The plan covers the launch, the docs and the support rota for the first week."
    long_after = "The plan covers the launch, the blog post and the support rota for week one."
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": long_before, "priority": "low"})
    moment = org.get(f"/api/v1/tasks/{tree.task}").json()["data"]["updated_at"]
    org.patch(f"/api/v1/tasks/{tree.task}", json={"notes": long_after, "priority": "high"})
    page = browser.get(f"/tasks/{tree.task}")
    assert page.status_code == 200
    assert "Draft plan" in page.text and "Current state" in page.text
    assert "<del>docs</del>" in page.text and "<ins>blog post</ins>" in page.text
    assert re.search(r'<td class="old">low</td>\s*<td class="new">high</td>', page.text)
    assert "Outline" in page.text  # the subtask's history is part of it
    past = browser.get(f"/tasks/{tree.task}", params={"at": moment})
    assert past.status_code == 200 and "State as of" in past.text
    assert (
        ">low<" in past.text.split("History")[0] and ">high<" not in past.text.split("History")[0]
    )
    before_it = browser.get(f"/tasks/{tree.task}", params={"at": "2000-01-01"})
    assert "did not exist yet" in before_it.text
    for path in (
        f"/projects/{tree.project}",
        f"/workspaces/{tree.workspace}",
        f"/users/{org.owner_id}",
    ):
        assert browser.get(path).status_code == 200, path
    for path in ("/tasks/999999", "/tasks/abc", f"/projects/{tree.task}"):
        missing = browser.get(path)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(
            "text/html"
        )
        assert "Back to the timeline" in missing.text


# -- roles ----------------------------------------------------------------------------------


def test_a_guest_sees_only_their_workspaces(org: Org, tree: Tree, store: Store) -> None:
    secret_ws = org.create("workspaces", name="Board room")
    secret = org.create("projects", name="Secret merger", workspace=secret_ws["id"])
    guest, token = org.user("Gus Guest", role="guest")
    org.post(f"/api/v1/workspaces/{tree.workspace}/members", json={"add": [guest]})
    client = sign_in(TestClient(org.client.app, raise_server_exceptions=False), token)
    page = client.get("/")
    assert page.status_code == 200
    assert (
        "Launch" in page.text and "Secret merger" not in page.text and "Board room" not in page.text
    )
    hidden = client.get(f"/projects/{secret['id']}")
    assert hidden.status_code == 404 and "Secret merger" not in hidden.text
    assert client.get("/", params={"scope": f"project:{secret['id']}"}).status_code == 404
    assert "Secret merger" not in client.get("/export.ndjson").text
    assert client.get("/", params={"q": "project:Secret"}).status_code == 400
    # verifying the history is for owners and admins
    verify = client.post("/integrity/verify", data={"csrf": csrf_of(page)})
    assert verify.status_code == 403 and "owner or admin" in verify.text
    assert "Verify now" not in page.text


# -- export and live --------------------------------------------------------------------------


def test_exports_hold_the_filters_events(org: Org, tree: Tree, browser: TestClient) -> None:
    org.post(f"/api/v1/tasks/{tree.task}/close")
    org.post(f"/api/v1/tasks/{tree.subtask}/close")
    exported = browser.get("/export.csv", params={"action": "closed"})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="worktrail-events.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["closed", "closed"]
    assert [int(r["subject_id"]) for r in rows] == [tree.subtask, tree.task]
    lines = browser.get("/export.ndjson", params={"text": "Outline"}).text.splitlines()
    assert {orjson.loads(line)["subject"]["id"] for line in lines} == {tree.subtask}
    assert browser.get("/export.xml").status_code == 404


def test_the_live_feed_sends_rendered_rows_to_a_session(
    org: Org, tree: Tree, browser: TestClient
) -> None:
    with browser.stream("GET", "/live", params={"type": "task"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        org.patch(f"/api/v1/comments/{tree.comment}", json={"text": "Edited"})  # not a task
        org.patch(f"/api/v1/tasks/{tree.task}", json={"name": "<b>Renamed</b>"})
        message: list[str] = []
        for line in lines:
            if line == "":
                if message:
                    break
                continue
            message.append(line)
    assert message[0].startswith("id: ") and message[1] == "event: event"
    html = "\n".join(line.removeprefix("data: ") for line in message[2:])
    assert 'class="event fresh"' in html and "&lt;b&gt;Renamed&lt;/b&gt;" in html
    assert org.client.get("/live", follow_redirects=False).status_code == 303  # no session


def test_ui_routes_stay_out_of_the_openapi_document(org: Org) -> None:
    paths = org.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith(("/api/", "/v2/", "/v3/", "/tasks/workspace"))]


def test_the_integrity_badge_shows_the_kept_verification(
    org: Org, tree: Tree, browser: TestClient, settings: Settings
) -> None:
    integrity = org.client.app.state.ui.integrity  # type: ignore[attr-defined]
    page = browser.get("/")  # a small history is verified when a page first shows it
    integrity.wait()
    page = browser.get("/")
    assert "Chain intact" in page.text and "Verify now" in page.text
    if not settings.database_url.startswith("sqlite"):
        return
    import sqlite3

    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET data = replace(data, 'Draft plan', 'Forged') WHERE seq = 5")
    assert "Chain intact" in browser.get("/").text  # the kept result, until verified again
    again = browser.post(
        "/integrity/verify", data={"csrf": csrf_of(page), "back": "/"}, follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"] == "/"
    integrity.wait()
    broken = browser.get("/").text
    assert "Chain broken" in broken and "at seq 5: content does not match its hash" in broken
