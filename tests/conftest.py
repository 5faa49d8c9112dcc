"""Shared fixtures. Every store-backed test runs on SQLite and on a real PostgreSQL.

PostgreSQL: WORKTRAIL_TEST_DATABASE_URL names a server whose user may create databases;
without it a throwaway cluster is started in a temp dir (initdb + pg_ctl on a free port).
With WORKTRAIL_REQUIRE_POSTGRES=1 (CI) a server that cannot be started fails the run
instead of skipping the PostgreSQL half.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from worktrail.app import create_app
from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import Store, open_store
from worktrail.testing.postgres import PostgresServer, start_postgres
from worktrail.web.services import Services
from worktrail.write import create_organization

BACKENDS = ("sqlite", "postgres")
_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    store.migrate()
    store.close()
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    try:
        server = start_postgres()
    except Exception as exc:  # the reason is reported below
        if os.environ.get("WORKTRAIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but could not be started: {exc}")
        yield None
        return
    try:
        template_url = server.create_database("wt_template")
        store = open_store(Settings(database_url=template_url))
        store.migrate()
        store.close()
        yield server
    finally:
        server.stop()


def make_settings(url: str, **overrides: Any) -> Settings:
    """Settings of a test app. Webhook delivery, checkpoints and retention in the background
    are off unless a test turns them on (their workers would otherwise run beside every
    test)."""
    quiet = {
        "webhook_worker": 0,
        "checkpoint_interval_seconds": 0,
        "checkpoint_events": 0,
        "retention_interval_minutes": 0,
    }
    return Settings(database_url=url, secret="test-secret", **{**quiet, **overrides})


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "worktrail.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL is not available (set WORKTRAIL_TEST_DATABASE_URL)")
    name = f"wt_test_{os.getpid()}_{next(_counter)}"
    url = server.create_database(name, template="wt_template")
    yield url
    server.drop_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, integrity_key_file=str(tmp_path / "integrity.key"))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.close()


@dataclass
class Org:
    """An organization with its owner, ready to call the API."""

    id: int
    owner_id: int
    token: str
    client: TestClient
    store: Store

    @property
    def services(self) -> Services:
        """The app's service objects (tests set the clock on them)."""
        services: Services = self.client.app.state.services  # type: ignore[attr-defined]
        return services

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(
            path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw
        )

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(
            path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw
        )

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def create(self, kind: str, **fields: Any) -> dict[str, Any]:
        response = self.post(f"/api/v1/{kind}", json=fields)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def user(self, name: str, role: str = "member") -> tuple[int, str]:
        """A new user of this organization and a token for them."""
        email = name.lower().replace(" ", ".") + f"{next(_counter)}@example.test"
        user = self.create("users", name=name, email=email, role=role)
        _, token = create_token(self.store, self.id, user["id"], name)
        return user["id"], token


def new_org(store: Store, client: TestClient, name: str = "Acme") -> Org:
    created = create_organization(store, name, f"{name} Owner", f"owner@{name.lower()}.test")
    _, token = create_token(store, created.org_id, created.owner_id, "test")
    return Org(created.org_id, created.owner_id, token, client, store)


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def org(store: Store, client: TestClient) -> Org:
    return new_org(store, client, "Acme")


@pytest.fixture
def other_org(store: Store, client: TestClient) -> Org:
    return new_org(store, client, "Globex")


@dataclass
class Tree:
    """workspace > project > task > subtask > comment, all owned by `org`."""

    workspace: int
    project: int
    task: int
    subtask: int
    comment: int


@pytest.fixture
def tree(org: Org) -> Tree:
    return build_tree(org)


def build_tree(org: Org) -> Tree:
    """workspace > project > task > subtask > comment in `org`."""
    ws = org.create("workspaces", name="Engineering", members=[org.owner_id])
    project = org.create("projects", name="Launch", workspace=ws["id"])
    task = org.create("tasks", name="Draft plan", project=project["id"])
    sub = org.create("tasks", name="Outline", parent=task["id"])
    comment = org.create("comments", task=sub["id"], text="First!")
    return Tree(ws["id"], project["id"], task["id"], sub["id"], comment["id"])
