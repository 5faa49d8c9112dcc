"""Which commands may create a store, and what the others say when there is none."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.testing.postgres import PostgresServer

runner = CliRunner()

# every command that works on an existing store, with the arguments it needs
READERS = [
    ["org", "list"],
    ["org", "api-key"],
    ["token", "create"],
    ["token", "list"],
    ["token", "revoke", "1"],
    ["token", "rename", "1", "renamed"],
    ["token", "expire", "1", "--now"],
    ["tail", "--max-events", "1"],
    ["verify"],
    ["export"],
    ["export", "--format", "csv", "--scope", "project:1"],
]
ORG = ["--name", "N", "--owner-name", "O", "--owner-email", "o@n.test"]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without a store, and no database URL in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKTRAIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("WORKTRAIL_CONFIG", raising=False)
    return tmp_path


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_no_store_in_the_current_directory(elsewhere: Path, command: list[str]) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # as printed, whatever the terminal's width
    assert f"no worktrail store at {elsewhere / 'worktrail.db'}: there is no such file" in said
    assert "names a file in the current directory" in said
    assert "--database-url" in said and "WORKTRAIL_DATABASE_URL" in said
    assert list(elsewhere.iterdir()) == []  # nothing created


@pytest.mark.parametrize("command", READERS[:3], ids=" ".join)
def test_a_named_store_that_does_not_exist(elsewhere: Path, command: list[str]) -> None:
    missing = elsewhere / "sub" / "history.db"
    result = runner.invoke(app, [*command, "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    assert f"no worktrail store at {missing}" in " ".join(result.output.split())
    assert not missing.parent.exists()


def test_the_environment_is_named_when_the_url_came_from_it(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKTRAIL_DATABASE_URL", "sqlite:///gone.db")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "comes from WORKTRAIL_DATABASE_URL" in said
    assert not (elsewhere / "gone.db").exists()


def test_an_empty_file_is_no_store(elsewhere: Path) -> None:
    # e.g. the empty worktrail.db that earlier versions left behind
    (elsewhere / "worktrail.db").touch()
    result = runner.invoke(app, ["token", "list"])
    assert result.exit_code == 2
    assert "holds no worktrail schema" in result.output
    assert runner.invoke(app, ["migrate"]).exit_code == 0  # and it can be made one


@pytest.fixture
def empty_postgres(postgres_server: PostgresServer | None) -> Iterator[str]:
    """A PostgreSQL database without worktrail's schema."""
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available")
    name = f"wt_empty_{os.getpid()}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


def test_an_unmigrated_postgres_database_is_no_store(empty_postgres: str) -> None:
    for command in (["org", "list"], ["verify"], ["export"], ["tail", "--max-events", "1"]):
        result = runner.invoke(app, [*command, "--database-url", empty_postgres])
        assert result.exit_code == 2, result.output
        assert "holds no worktrail schema" in result.output
        assert "password" not in result.output
    store = open_store(Settings(database_url=empty_postgres))
    try:
        assert store.schema_revision() is None  # still empty: nothing was migrated
    finally:
        store.close()


@pytest.mark.parametrize(
    ("command", "announcement"),
    [
        (["migrate"], "Schema upgraded from empty to"),
        (["org", "create", *ORG], "Created a new worktrail store at"),
        (["demo", "--events", "300"], "Created a new worktrail store at"),
    ],
    ids=["migrate", "org create", "demo"],
)
def test_commands_that_set_a_store_up_create_it_and_say_where(
    elsewhere: Path, command: list[str], announcement: str
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    path = elsewhere / "worktrail.db"
    assert path.is_file()
    said = " ".join(result.output.split())
    assert announcement in said and str(path) in said
    again = runner.invoke(app, command)  # an existing store is used, not announced again
    assert again.exit_code == 0 and announcement not in again.output


def test_readers_work_once_a_store_exists(elsewhere: Path) -> None:
    assert runner.invoke(app, ["org", "create", *ORG]).exit_code == 0
    for command in (["org", "list"], ["token", "list"], ["verify"], ["export"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)


def test_commands_that_only_use_a_store_leave_its_schema_alone(elsewhere: Path) -> None:
    assert runner.invoke(app, ["org", "create", *ORG]).exit_code == 0
    store = open_store(Settings(database_url="sqlite:///worktrail.db"))
    try:
        head = store.schema_revision()
        downgraded = runner.invoke(app, ["migrate", "--revision", "0005"])  # an older release's
        assert "Schema downgraded from" in downgraded.output, downgraded.output
        for command in (*READERS, ["webhooks", "list"], ["doctor"]):
            result = runner.invoke(app, command)
            assert result.exit_code in (1, 2), (command, result.output)
            assert "worktrail migrate" in " ".join(result.output.split()), command
            assert store.schema_revision() == "0005", command  # not migrated
        unknown = runner.invoke(app, ["migrate", "--revision", "0099"])
        assert unknown.exit_code == 2 and "unknown schema revision" in unknown.output
        assert runner.invoke(app, ["migrate"]).exit_code == 0
        assert store.schema_revision() == head
        assert runner.invoke(app, ["org", "list"]).exit_code == 0
    finally:
        store.close()
