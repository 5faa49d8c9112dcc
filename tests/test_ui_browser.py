"""The web UI in a real browser (Debian's chromium through Playwright) against a real
`worktrail serve --demo`: signing in by the printed link, filtering, paging, an entity's
diffs, a change made through the API arriving live, an export, hostile names, a guest's
view. Every page is checked by axe-core (no serious or critical violation), no page logs
an error, and no request leaves 127.0.0.1 (tests/browser.py).

With WORKTRAIL_SCREENSHOTS=1 the timeline and an entity page are saved as the README's
pictures (docs/ui-timeline.png, docs/ui-entity.png).
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from worktrail.testing.server import LiveServer, serve

from .browser import ROOT, Watch, axe_source, axe_violations, chromium_path, unavailable, watch
from .live import printed_token

pytestmark = pytest.mark.slow
XSS = "<script>alert(1)</script>"


@dataclass
class Site:
    server: LiveServer
    link: str  # the sign-in link serve --demo printed
    owner: httpx.Client
    guest_token: str
    guest_workspace: str
    hidden_project: int
    xss_task: int

    @property
    def base(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui")
    with serve(f"sqlite:///{tmp / 'ui.db'}", tmp, "--demo", "--demo-events", "3000") as server:
        printed = server.output()
        link = re.search(r"(http://\S+/login#token=\S+)", printed)
        assert link is not None, printed
        token = printed_token(printed)
        with httpx.Client(
            base_url=server.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as owner:
            yield _populate(server, link[1], owner)


def _populate(server: LiveServer, link: str, owner: httpx.Client) -> Site:
    def made(response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    workspace = made(owner.get("/workspaces", params={"limit": 1}))[0]
    project = made(owner.get("/projects", params={"workspace": workspace["id"], "limit": 1}))[0]
    xss = made(owner.post("/tasks", json={"name": XSS, "project": project["id"]}))
    board = made(owner.post("/workspaces", json={"name": "Board room"}))
    hidden = made(owner.post("/projects", json={"name": "Secret merger", "workspace": board["id"]}))
    guest = made(
        owner.post("/users", json={"name": "Gus Guest", "email": "gus@x.test", "role": "guest"})
    )
    made(owner.post(f"/workspaces/{workspace['id']}/members", json={"add": [guest["id"]]}))
    minted = owner.post("/tokens", json={"name": "guest", "user": guest["id"]})
    assert minted.status_code == 201, minted.text
    return Site(
        server,
        link,
        owner,
        minted.json()["data"]["token"],
        workspace["name"],
        hidden["id"],
        xss["id"],
    )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    path = chromium_path()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        except Exception as exc:  # the reason is reported
            unavailable(f"chromium at {path} cannot be started: {exc}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


class Browsing:
    """One browser context (its own cookies), watched; the checks every page passes."""

    def __init__(self, chromium: Any, axe: str, **options: Any) -> None:
        self.context = chromium.new_context(
            **{"viewport": {"width": 1280, "height": 900}, **options}
        )
        self.seen: Watch = watch(self.context)
        self.page = self.context.new_page()
        self.axe = axe
        self.checked: list[str] = []

    def accessible(self) -> None:
        """axe-core finds no serious or critical violation on the page as it is now."""
        assert axe_violations(self.page, self.axe) == [], self.page.url
        self.checked.append(self.page.url)

    def sign_in(self, base: str, token: str) -> None:
        self.page.goto(base + "/")
        assert "/login" in self.page.url
        self.page.fill("#token", token)
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_url(base + "/")

    def close(self) -> None:
        self.context.close()
        assert self.seen.errors == [], self.seen.errors
        assert self.seen.outside() == [], self.seen.outside()
        assert self.seen.dialogs == [], self.seen.dialogs
        assert self.seen.urls, "nothing was requested"


@pytest.fixture
def browsing(chromium: Any, axe: str) -> Iterator[Browsing]:
    session = Browsing(chromium, axe)
    yield session
    session.close()


def seqs(page: Any) -> list[int]:
    return [
        int(s) for s in page.locator("#events > li").evaluate_all("l => l.map(e => e.dataset.seq)")
    ]


def picture(page: Any, url: str) -> None:
    """The README's picture of the timeline: the demo's own work, once verified."""
    for _ in range(50):
        page.goto(url)
        if page.locator(".badge.ok").count():
            break
        time.sleep(0.2)
    shot(page, "ui-timeline.png")


def shot(page: Any, name: str) -> None:
    if os.environ.get("WORKTRAIL_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / name))


def test_sign_in_filter_page_and_read_an_entitys_diffs(site: Site, browsing: Browsing) -> None:
    page = browsing.page
    page.goto(site.base + "/")
    assert page.url.startswith(site.base + "/login")
    browsing.accessible()
    # the link serve --demo prints fills the form in; the person presses the button
    page.goto(site.link)
    assert page.input_value("#token").startswith("wt_") and "#" not in page.url
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(site.base + "/")
    assert page.locator("#events > li").count() == 25
    browsing.accessible()
    if os.environ.get("WORKTRAIL_SCREENSHOTS") == "1":
        picture(page, site.base + "/?type=task&action=updated&action=closed")
        page.goto(site.base + "/")

    page.click(".facet a:has-text('closed')")
    assert "action=closed" in page.url
    actions = page.locator("#events .action").all_inner_texts()
    assert actions and set(actions) == {"closed"}
    first_page = seqs(page)
    page.click("a[rel=next]")
    assert "older=" in page.url and "action=closed" in page.url
    assert max(seqs(page)) < min(first_page)
    page.click("a[rel=prev]")
    assert seqs(page) == first_page
    browsing.accessible()

    page.fill("#q", "type:task after:2000-01-01")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r".*type=task.*"))
    assert "action=closed" in page.url and "after=2000-01-01" in page.url
    assert set(page.locator("#events .kind").all_inner_texts()) == {"task"}
    page.fill("#q", "colour:red")
    page.press("#q", "Enter")
    assert "unknown qualifier 'colour:'" in page.locator("#search-error").inner_text()
    browsing.accessible()

    page.goto(site.base + "/?action=updated&type=task")
    page.click("#events > li >> nth=0 >> a.subject")
    page.wait_for_url(re.compile(r".*/tasks/\d+$"))
    assert page.locator("table.diff").first.is_visible()
    assert page.locator("h2#state-title").inner_text() == "Current state"
    browsing.accessible()
    shot(page, "ui-entity.png")
    moment = page.locator(".history time").last.get_attribute("datetime")
    assert moment is not None
    page.fill("#at", moment[:19])
    page.click("form.asof button")
    assert "State as of" in page.locator("h2#state-title").inner_text()
    browsing.accessible()

    page.goto(site.base + "/?text=nothing-matches-this")
    assert "No events match these filters" in page.locator("#empty").inner_text()
    browsing.accessible()
    page.goto(site.base + "/tasks/999999999")
    assert page.locator("h1").inner_text() == "Not found"
    browsing.accessible()
    page.goto(site.base + f"/users/{site.owner.get('/me').json()['user']['id']}")
    browsing.accessible()


def test_a_change_through_the_api_appears_live_and_pausing_holds_it(
    site: Site, browsing: Browsing
) -> None:
    page = browsing.page
    browsing.sign_in(site.base, printed_token(site.server.output()))
    page.wait_for_selector(".live[data-state=live]")
    task = site.xss_task
    site.owner.patch(f"/tasks/{task}", json={"notes": "Seen live"})
    written = time.monotonic()
    page.wait_for_selector("#events > li:first-child .changes:has-text('notes')", timeout=2000)
    assert time.monotonic() - written < 2.0
    assert XSS in page.locator("#events > li:first-child a.subject").inner_text()
    page.click(".live .pause")
    site.owner.patch(f"/tasks/{task}", json={"priority": "urgent"})
    page.wait_for_selector(".live-status:has-text('Paused, 1 new')", timeout=5000)
    assert "urgent" not in page.locator("#events > li:first-child").inner_text()
    page.click(".live .pause")
    assert "urgent" in page.locator("#events > li:first-child").inner_text()
    browsing.accessible()


def test_the_export_holds_what_the_filter_shows(
    site: Site, browsing: Browsing, tmp_path: Path
) -> None:
    page = browsing.page
    browsing.sign_in(site.base, printed_token(site.server.output()))
    page.goto(site.base + "/?action=closed&type=task")
    total = int(page.locator(".count strong").inner_text().replace(",", ""))
    shown = seqs(page)
    with page.expect_download() as download:
        page.click(".exports a:has-text('CSV')")
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == "worktrail-events.csv"
    with target.open() as exported:
        rows = list(csv.DictReader(exported))
    assert len(rows) == total > 0
    assert {(r["action"], r["subject_type"]) for r in rows} == {("closed", "task")}
    assert [int(r["seq"]) for r in rows[: len(shown)]] == shown


def test_hostile_names_render_as_text(site: Site, browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in(site.base, printed_token(site.server.output()))
    page.goto(site.base + "/?q=alert")
    assert page.locator("#events a.subject", has_text=XSS).count() >= 1
    page.goto(site.base + f"/tasks/{site.xss_task}")
    assert XSS in page.locator("h1").inner_text()
    browsing.accessible()
    # nothing ran: no dialog (Browsing.close), and the only scripts are the UI's own
    sources = page.locator("script").evaluate_all("l => l.map(s => s.src)")
    assert sources == [site.base + "/assets/app.js"]


def test_a_guest_sees_only_their_workspace(site: Site, browsing: Browsing) -> None:
    page = browsing.page
    browsing.sign_in(site.base, site.guest_token)
    options = page.locator("#f-scope optgroup[label=Workspaces] option").all_inner_texts()
    assert options == [site.guest_workspace]
    assert "Secret merger" not in page.content() and "Board room" not in page.content()
    assert page.locator(".role").inner_text() == "guest"
    assert page.locator("form[action='/integrity/verify']").count() == 0
    page.goto(site.base + f"/projects/{site.hidden_project}")
    assert page.locator("h1").inner_text() == "Not found"
    assert "Secret merger" not in page.content()
    browsing.accessible()


def test_phones_and_dark_mode(site: Site, chromium: Any, axe: str) -> None:
    token = printed_token(site.server.output())
    phone = Browsing(chromium, axe, viewport={"width": 390, "height": 844}, is_mobile=True)
    dark = Browsing(chromium, axe, color_scheme="dark")
    try:
        for session in (phone, dark):
            session.sign_in(site.base, token)
            fits = "document.documentElement.scrollWidth <= window.innerWidth"
            assert session.page.evaluate(fits), session.page.url
            session.accessible()
            session.page.goto(site.base + f"/tasks/{site.xss_task}")
            assert session.page.evaluate(fits), session.page.url
            session.accessible()
        background = dark.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 20, 26)"
        # keyboard: the skip link is the first stop, and leads to the content
        phone.page.keyboard.press("Tab")
        assert phone.page.evaluate("document.activeElement.textContent") == "Skip to content"
    finally:
        phone.close()
        dark.close()
