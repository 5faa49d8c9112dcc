"""`worktrail doctor`: the effective configuration and where each value comes from, the
database and its schema, what is wrong (exit 1) — and nothing changed on the way."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worktrail.cli import app
from worktrail.cli_store import console
from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.store.health import head_revision
from worktrail.testing.postgres import PostgresServer
from worktrail.testing.server import free_port

from .test_health import set_revision

runner = CliRunner()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WORKTRAIL_* variable set; the current directory is an empty one."""
    for name in list(os.environ):
        if name.startswith("WORKTRAIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(console, "_width", 200)  # the table's rows on one line each
    return tmp_path


@pytest.fixture
def store_url(clean_env: Path, sqlite_template: Path) -> str:
    path = clean_env / "store.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def empty_postgres(postgres_server: PostgresServer | None) -> Iterator[str]:
    """A PostgreSQL database without worktrail's schema."""
    if postgres_server is None:
        pytest.skip("PostgreSQL is not available")
    name = f"wt_doctor_{os.getpid()}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


def said(output: str) -> str:
    return " ".join(output.split())


def row(output: str, setting: str) -> list[str]:
    """The cells of a setting's row in the configuration table."""
    line = next(line for line in output.splitlines() if f" {setting} " in line)
    return [cell.strip() for cell in line.strip("│┃ ").split("│")]


def test_a_healthy_store(store_url: str, monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    config = clean_env / "worktrail.toml"
    config.write_text("page_limit_max = 500\n")
    monkeypatch.setenv("WORKTRAIL_CONFIG", str(config))
    monkeypatch.setenv("WORKTRAIL_SECRET", "a-very-secret-value")
    monkeypatch.setenv("WORKTRAIL_LOG_FORMAT", "json")
    result = runner.invoke(app, ["doctor", "--database-url", store_url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "a-very-secret-value" not in out
    assert row(out, "secret") == ["secret", "****", "environment (WORKTRAIL_SECRET)"]
    assert row(out, "log_format") == ["log_format", "json", "environment (WORKTRAIL_LOG_FORMAT)"]
    assert row(out, "page_limit_max") == ["page_limit_max", "500", f"file ({config})"]
    assert row(out, "port") == ["port", "8000", "default"]
    assert row(out, "database_url")[2] == "flag (--database-url)"
    text = said(out)
    assert "Database: answers (SQLite 3." in text
    assert f"Schema: {head_revision()} (this worktrail's: {head_revision()})" in text
    assert "No problems found." in text


def test_what_is_wrong_is_listed_and_exits_1(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKTRAIL_METRICS", "everywhere")
    monkeypatch.setenv("WORKTRAIL_LOG_FORMAT", "xml")
    monkeypatch.setenv("WORKTRAIL_WEBHOOK_RETRY_SCHEDULE", "soon")
    result = runner.invoke(app, ["doctor", "--database-url", store_url])
    assert result.exit_code == 1
    text = said(result.output)
    assert "What is wrong:" in text
    assert "metrics must be off, on or HOST:PORT" in text
    assert "log_format must be text or json" in text
    assert "webhook_retry_schedule must be" in text


def test_a_schema_behind_is_reported_and_left_as_it_is(store_url: str) -> None:
    store = open_store(Settings(database_url=store_url))
    set_revision(store, "0004")
    try:
        result = runner.invoke(app, ["doctor", "--database-url", store_url])
        assert result.exit_code == 1
        text = said(result.output)
        assert f"the schema is at 0004, behind this worktrail's {head_revision()}" in text
        assert "run `worktrail migrate`" in text
        assert store.schema_revision() == "0004"  # doctor migrated nothing
        set_revision(store, "9999_from_the_future")
        later = said(runner.invoke(app, ["doctor", "--database-url", store_url]).output)
        assert "a revision this worktrail does not know" in later
    finally:
        store.close()


def test_no_store_is_reported_and_none_is_made(clean_env: Path) -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    text = said(result.output)
    assert f"no store at {clean_env / 'worktrail.db'}: there is no such file" in text
    assert "Database: not found" in text
    assert list(clean_env.iterdir()) == []


def test_an_empty_postgres_database_is_no_store(empty_postgres: str, clean_env: Path) -> None:
    result = runner.invoke(app, ["doctor", "--database-url", empty_postgres])
    assert result.exit_code == 1
    text = said(result.output)
    assert "Database: answers (PostgreSQL " in text
    assert "holds no worktrail schema" in text
    store = open_store(Settings(database_url=empty_postgres))
    try:
        assert store.schema_revision() is None
    finally:
        store.close()


def test_a_database_that_does_not_answer(clean_env: Path) -> None:
    url = f"postgresql://worktrail:hunter2@127.0.0.1:{free_port()}/worktrail"
    result = runner.invoke(app, ["doctor", "--database-url", url])
    assert result.exit_code == 1
    text = said(result.output)
    assert "Database: does not answer" in text
    assert "does not answer:" in text and "refused" in text.lower()
    assert "hunter2" not in text


def test_replica_and_listen_urls_are_shown_without_passwords(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKTRAIL_DATABASE_LISTEN_URL", "postgresql://wt:hunter2@db/wt")
    monkeypatch.setenv("WORKTRAIL_DATABASE_REPLICA_URLS", "postgresql://wt:hunter3@replica/wt")
    result = runner.invoke(app, ["doctor", "--database-url", store_url])
    assert "hunter2" not in result.output and "hunter3" not in result.output
    # replicas stream from a PostgreSQL primary: beside an SQLite store they are an error
    assert result.exit_code == 1
    assert "database_replica_urls needs a PostgreSQL database_url" in said(result.output)
