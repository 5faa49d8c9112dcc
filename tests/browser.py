"""What the browser tests need besides a server: Debian's chromium driven by Playwright,
every request it makes recorded (and any to another host refused), console errors
collected, and axe-core to check each page's accessibility.

axe-core comes from the npm registry: the tarball tests/axe.json names is downloaded once
into .cache/ (gitignored) and used only if its SHA-512 is the `dist.integrity` recorded
there. Chromium is `chromium` on the PATH, or WORKTRAIL_CHROMIUM. When either cannot be
had, the browser tests skip, unless WORKTRAIL_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
AXE = json.loads((ROOT / "tests" / "axe.json").read_text())
CACHE = ROOT / ".cache"
SERIOUS = ("serious", "critical")


def unavailable(reason: str) -> None:
    """Skip, or fail where a browser is required (CI)."""
    if os.environ.get("WORKTRAIL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser tests are required: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    path = os.environ.get("WORKTRAIL_CHROMIUM") or shutil.which("chromium")
    if not path:
        unavailable("chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


def axe_source() -> str:
    """axe.min.js of the version tests/axe.json records, its integrity checked."""
    target = CACHE / f"axe-core-{AXE['version']}.min.js"
    if not target.exists():
        try:
            with urllib.request.urlopen(AXE["tarball"], timeout=60) as response:
                tarball = response.read()
        except OSError as exc:
            unavailable(f"cannot download axe-core: {exc}")
        algorithm, _, expected = AXE["integrity"].partition("-")
        digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
        assert digest == expected, "the axe-core tarball is not the one tests/axe.json records"
        with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            CACHE.mkdir(exist_ok=True)
            target.write_bytes(member.read())
    return target.read_text()


@dataclass
class Watch:
    """What the pages of one browser context did: every URL requested, every console
    error and uncaught exception, every dialog (an alert() that ran)."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)

    def outside(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).hostname not in ("127.0.0.1", None)]


def watch(context: Any) -> Watch:
    """Record `context`'s requests (refusing any to another host), errors and dialogs."""
    seen = Watch()

    def route(route: Any) -> None:
        url = route.request.url
        seen.urls.append(url)
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def on_console(message: Any) -> None:
        # a page answered with an error status (a 404 page, a refused search) is logged
        # as a failed load of the page itself: the tests check those statuses themselves
        own_status = message.location.get("url") in seen.documents
        if message.type == "error" and not (own_status and "Failed to load" in message.text):
            seen.errors.append(f"{message.text} ({message.location.get('url')})")

    def on_response(response: Any) -> None:
        if response.request.resource_type == "document":
            seen.documents.add(response.url)

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_page(page: Any) -> None:
        page.on("console", on_console)
        page.on("response", on_response)
        page.on("pageerror", lambda e: seen.errors.append(str(e)))
        page.on("dialog", on_dialog)

    context.route("**/*", route)
    context.on("page", on_page)
    return seen


def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now. The script
    is evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source + "\n;0")
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))
            }));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]
