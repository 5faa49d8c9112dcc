"""API tokens: listed, created, renamed, expired and revoked through the API (owners and
admins) and the CLI; expiry checked by every API; every use recorded in last_used_at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from typer.testing import CliRunner

from worktrail.auth import authenticate, hash_token
from worktrail.cli import app as cli
from worktrail.config import Settings
from worktrail.store import base, open_store
from worktrail.testing.postgres import PostgresServer
from worktrail.write import create_organization

from .conftest import Org, Tree
from .live import printed_token

FIELDS = {
    "id",
    "name",
    "user",
    "prefix",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
}
DAY = 86_400_000_000


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(org: Org, **body: Any) -> dict[str, Any]:
    response = org.post("/api/v1/tokens", json={"name": "ci", **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def token_count(org: Org) -> int:
    return len(org.store.list_tokens(org.id))


def test_a_new_token_is_shown_once_and_acts_as_its_user(org: Org) -> None:
    created = make_token(org, expires_in_days=30)
    assert set(created) == FIELDS | {"token"}
    assert created["token"].startswith(created["prefix"]) and created["status"] == "active"
    assert created["user"] == {"id": org.owner_id, "name": "Acme Owner"}
    assert created["expires_at"] > created["created_at"] and created["last_used_at"] is None
    me = org.client.get("/api/v1/me", headers=bearer(created["token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == org.owner_id
    listing = org.get("/api/v1/tokens")
    assert listing.status_code == 200
    assert created["token"] not in listing.text and "hash" not in listing.text
    mine = [t for t in listing.json()["data"] if t["id"] == created["id"]]
    assert set(mine[0]) == FIELDS and mine[0]["last_used_at"] is not None
    one = org.get(f"/api/v1/tokens/{created['id']}").json()["data"]
    assert one == mine[0]


def test_listing_pages_by_id(org: Org) -> None:
    for n in range(4):
        make_token(org, name=f"t{n}")
    first = org.get("/api/v1/tokens", params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["has_more"]
    rest = org.get("/api/v1/tokens", params={"after": first["next_after"]}).json()
    ids = [t["id"] for t in first["data"] + rest["data"]]
    assert ids == sorted(ids) and len(ids) == 5 and not rest["has_more"]
    assert org.get("/api/v1/tokens", params={"limit": 0}).status_code == 400
    assert org.get("/api/v1/tokens", params={"user": 1}).status_code == 400


@pytest.mark.parametrize("role", ["member", "guest"])
def test_members_and_guests_manage_no_tokens(org: Org, role: str) -> None:
    _, token = org.user(f"Sam {role}", role)
    own = org.store.list_tokens(org.id)[-1].id
    headers = bearer(token)
    attempts = [
        ("GET", "/api/v1/tokens", None),
        ("GET", f"/api/v1/tokens/{own}", None),
        ("GET", "/api/v1/tokens/999999", None),
        ("POST", "/api/v1/tokens", {"name": "mine"}),
        ("PATCH", f"/api/v1/tokens/{own}", {"name": "renamed"}),
        ("DELETE", f"/api/v1/tokens/{own}", None),
        ("POST", f"/api/v1/tokens/{own}/revoke", None),
    ]
    for method, path, body in attempts:
        response = org.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert [t.name for t in org.store.list_tokens(org.id)][-1] == f"Sam {role}"
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200


def test_admins_manage_everyones_tokens_but_an_owners(org: Org) -> None:
    member_id, _ = org.user("Mia Member")
    admin_id, admin_token = org.user("Ada Admin", "admin")
    as_admin = bearer(admin_token)
    minted = org.client.post(
        "/api/v1/tokens", json={"name": "for mia", "user": member_id}, headers=as_admin
    )
    assert minted.status_code == 201, minted.text
    me = org.client.get("/api/v1/me", headers=bearer(minted.json()["data"]["token"])).json()
    assert me["user"]["id"] == member_id and me["role"] == "member"
    owners = [t for t in org.store.list_tokens(org.id) if t.user_id == org.owner_id]
    before = token_count(org)
    refused = [
        org.client.post(
            "/api/v1/tokens", json={"name": "x", "user": org.owner_id}, headers=as_admin
        ),
        org.client.patch(f"/api/v1/tokens/{owners[0].id}", json={"name": "x"}, headers=as_admin),
        org.client.delete(f"/api/v1/tokens/{owners[0].id}", headers=as_admin),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    assert token_count(org) == before and org.get("/api/v1/me").status_code == 200
    # the admin sees every token, and the owner manages the admin's
    listed = org.client.get("/api/v1/tokens", headers=as_admin).json()["data"]
    assert {t["user"]["id"] for t in listed} == {org.owner_id, member_id, admin_id}
    admins = [t["id"] for t in listed if t["user"]["id"] == admin_id]
    assert org.delete(f"/api/v1/tokens/{admins[0]}").status_code == 200
    assert org.client.get("/api/v1/me", headers=as_admin).status_code == 401


def test_rename_and_expiry(org: Org) -> None:
    created = make_token(org)
    path = f"/api/v1/tokens/{created['id']}"
    headers = bearer(created["token"])
    renamed = org.patch(path, json={"name": "  deploys  "}).json()["data"]
    assert renamed["name"] == "deploys" and renamed["expires_at"] is None
    expired = org.patch(path, json={"expires_at": "2020-01-01T00:00:00Z"}).json()["data"]
    assert expired["status"] == "expired" and expired["expires_at"].startswith("2020-01-01T00:00")
    refused = org.client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401 and refused.json()["detail"] == "this API token has expired"
    extended = org.patch(path, json={"expires_in_days": 7}).json()["data"]
    assert extended["status"] == "active"
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200
    never = org.patch(path, json={"expires_at": None}).json()["data"]
    assert never["expires_at"] is None and never["name"] == "deploys"
    assert org.patch(path, json={}).json()["data"] == never


def test_a_token_expires_when_its_time_comes(org: Org, tree: Tree) -> None:
    created = make_token(org, expires_in_days=1)
    headers = bearer(created["token"])
    services = org.services
    now = services.clock()
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200
    services.clock = lambda: now + DAY + 1
    for path, auth in (
        ("/api/v1/me", headers),
        (f"/api/1.0/events?resource={tree.project}", headers),
        ("/api/v1/subscribed_events", headers),
        ("/v2/myself", {"Authorization": f"OAuth {created['token']}", "X-Org-ID": str(org.id)}),
        ("/api/oauth2?action=get_events&period=1d", headers),
    ):
        response = org.client.get(path, headers=auth)
        assert response.status_code == 401, (path, response.text)
    listed = org.get(f"/api/v1/tokens/{created['id']}").json()["data"]
    assert listed["status"] == "expired"


def test_revoking_is_final_and_idempotent(org: Org) -> None:
    created = make_token(org)
    path = f"/api/v1/tokens/{created['id']}"
    first = org.delete(path)
    assert first.status_code == 200 and first.json()["data"]["status"] == "revoked"
    again = org.delete(path)
    assert again.status_code == 200 and again.json() == first.json()
    assert org.post(f"{path}/revoke").json() == first.json()
    refused = org.client.get("/api/v1/me", headers=bearer(created["token"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # a later expiry does not bring it back
    org.patch(path, json={"expires_in_days": 5})
    assert org.client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 401


def test_tokens_never_cross_organizations(org: Org, other_org: Org) -> None:
    theirs = other_org.store.list_tokens(other_org.id)[0].id
    mine = make_token(org)["id"]
    for method, path, body in (
        ("GET", f"/api/v1/tokens/{theirs}", None),
        ("PATCH", f"/api/v1/tokens/{theirs}", {"name": "stolen"}),
        ("DELETE", f"/api/v1/tokens/{theirs}", None),
        ("POST", f"/api/v1/tokens/{theirs}/revoke", None),
    ):
        response = org.client.request(method, path, json=body, headers=org.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert {t["id"] for t in org.get("/api/v1/tokens").json()["data"]} >= {mine}
    assert theirs not in {t["id"] for t in org.get("/api/v1/tokens").json()["data"]}
    foreign_user = org.post("/api/v1/tokens", json={"name": "x", "user": other_org.owner_id})
    assert foreign_user.status_code == 422 and foreign_user.json()["field"] == "user"
    assert other_org.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 5},
        {"name": "x" * 201},
        {"name": "red\x1b[31m"},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": 36_501},
        {"name": "x", "expires_in_days": True},
        {"name": "x", "expires_in_days": "7"},
        {"name": "x", "expires_at": "tomorrow"},
        {"name": "x", "expires_at": "2030-01-01T00:00:00"},
        {"name": "x", "expires_at": 1893456000},
        {"name": "x", "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "x", "expires_at": "2030-01-01T00:00:00Z", "expires_in_days": 3},
        {"name": "x", "user": "2"},
        {"name": "x", "user": 0},
        {"name": "x", "user": 10**30},
        {"name": "x", "user": 999_999},
        {"name": "x", "scope": "all"},
    ],
)
def test_bad_bodies_are_422_and_create_nothing(org: Org, body: dict[str, Any]) -> None:
    before = token_count(org)
    response = org.post("/api/v1/tokens", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert token_count(org) == before


def test_bad_patches_change_nothing(org: Org, tree: Tree) -> None:
    created = make_token(org, name="keep")
    path = f"/api/v1/tokens/{created['id']}"
    for body in ({"name": ""}, {"expires_in_days": -1}, {"user": org.owner_id}, [1]):
        response = org.patch(path, json=body)
        assert response.status_code == 422, response.text
    assert org.get(path).json()["data"]["name"] == "keep"
    for ident in ("abc", "0", "-1", str(2**63)):
        assert org.get(f"/api/v1/tokens/{ident}").status_code == 404
    assert org.patch(f"/api/v1/tokens/{tree.task}", json={"name": "x"}).status_code == 404


def test_a_deleted_user_gets_no_new_token(org: Org) -> None:
    user_id, _ = org.user("Leaving Soon")
    assert org.delete(f"/api/v1/users/{user_id}").status_code == 200
    response = org.post("/api/v1/tokens", json={"name": "x", "user": user_id})
    assert response.status_code == 422 and response.json()["field"] == "user"


# -- the CLI ----------------------------------------------------------------------------

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_the_cli_creates_lists_renames_expires_and_revokes(org: Org) -> None:
    db = ["--database-url", org.store.url, "--org", str(org.id)]
    token = printed_token(
        run("token", "create", "--name", "nightly", "--expires-in-days", "3", *db)
    )
    token_id = org.store.list_tokens(org.id)[-1].id
    headers = bearer(token)
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200
    listing = run("token", "list", *db)
    assert "nightly" in listing and "last used" in listing and "expires" in listing
    assert token not in listing
    assert "renamed" in run("token", "rename", str(token_id), "nightly build", *db)
    assert org.store.list_tokens(org.id)[-1].name == "nightly build"
    run("token", "expire", str(token_id), "--now", *db)
    assert org.client.get("/api/v1/me", headers=headers).status_code == 401
    assert "never expires" in run("token", "expire", str(token_id), "--never", *db)
    assert org.client.get("/api/v1/me", headers=headers).status_code == 200
    run("token", "expire", str(token_id), "--in-days", "2", "--now", *db, code=2)
    run("token", "rename", str(token_id), "bad\x07name", *db, code=2)
    assert "revoked" in run("token", "revoke", str(token_id), *db)
    assert "already revoked" in run("token", "revoke", str(token_id), *db)
    assert org.client.get("/api/v1/me", headers=headers).status_code == 401
    run("token", "revoke", "999999", *db, code=1)
    run("token", "rename", "999999", "x", *db, code=1)


def test_cli_names_are_printed_as_text(org: Org) -> None:
    db = ["--database-url", org.store.url, "--org", str(org.id)]
    run("token", "create", "--name", "[/]", *db)  # markup, unescaped, would fail
    assert "│ [/]" in run("token", "list", *db)


# -- the migration ----------------------------------------------------------------------


@pytest.fixture
def empty_database(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """A database with no schema, on the backend of this test run."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"wt_old_{os.getpid()}"
    yield server.create_database(name)
    server.drop_database(name)


def test_tokens_of_an_older_schema_keep_working_and_never_expire(empty_database: str) -> None:
    store = open_store(Settings(database_url=empty_database))
    try:
        store.migrate()  # the organization is written as the code writes it now, then the
        created = create_organization(store, "Old", "Old Owner", "old@old.test")
        with store.writer.connect() as conn:  # schema goes back to before tokens could expire
            config = Config()
            config.set_main_option(
                "script_location", str(Path(base.__file__).parent / "migrations")
            )
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
            conn.commit()
        token = "wt_" + "k" * 43
        with store.writer.connect() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_tokens (org_id, user_id, name, token_hash, prefix, "
                    "created_at) VALUES (:org, :user, 'old', :hash, :prefix, 0)"
                ),
                {
                    "org": created.org_id,
                    "user": created.owner_id,
                    "hash": hash_token(token),
                    "prefix": token[:10],
                },
            )
            conn.commit()
        store.migrate()
        assert authenticate(store, token).user_id == created.owner_id
        [row] = store.list_tokens(created.org_id)
        assert row.expires_at is None and row.last_used_at is not None
    finally:
        store.close()
