"""The API documentation pages work offline: everything they load comes from worktrail."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.config import Settings
from worktrail.store import open_store

# what a page loads: <script src>, <link href>, ReDoc's spec-url, Swagger UI's `url:`
REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


@pytest.fixture
def client(tmp_path: Path, sqlite_template: Path) -> Iterator[TestClient]:
    # the pages touch no data: one database is enough
    shutil.copyfile(sqlite_template, tmp_path / "docs.db")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docs.db'}", secret="s")
    store = open_store(settings)
    with TestClient(create_app(settings, store)) as c:
        yield c
    store.close()


def references(page: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(page)]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_pages_load_only_from_their_own_server(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # no absolute or protocol-relative URL anywhere: nothing from another origin
    assert "http:" not in page.text and "https:" not in page.text
    urls = references(page.text)
    assert any(url.endswith(".js") for url in urls), urls
    assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        response = client.get(url)
        assert response.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert response.headers["content-type"].startswith(expected), url
        assert len(response.content) > 1000, url


def test_swagger_ui_is_a_version_that_reads_openapi_3_1(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    # Swagger UI renders OpenAPI 3.1 from version 5 on; the bundle names its version
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.', bundle)
    assert version and int(version[1]) >= 5, "the packaged Swagger UI predates OpenAPI 3.1"
    assert "validatorUrl" in client.get("/docs").text  # no call to the online validator


def test_a_browser_revalidates_the_assets_instead_of_fetching_them_again(
    client: TestClient,
) -> None:
    first = client.get("/docs/assets/swagger-ui-bundle.js")
    assert first.headers["cache-control"] == "no-cache" and first.headers["etag"]
    again = client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_unknown_assets_are_a_404_problem(client: TestClient) -> None:
    response = client.get("/docs/assets/nothing-here.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/docs/oauth2-redirect").status_code == 200
