"""`worktrail doctor`: what a server started here would run with, and what is wrong.

It changes nothing: it opens the store the settings name without creating or migrating it
(store/health.py), so it can be pointed at a production database, or at a path that is
not a store yet, without consequence.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from .cli_store import DatabaseUrl, console, err
from .config import ConfigError, Settings, load_settings, setting_sources
from .store import describe
from .store.health import StoreReport, inspect_store, revisions


def doctor(database_url: DatabaseUrl = None) -> None:
    """Print the effective configuration (secrets masked, and where each value comes
    from), whether the database answers and which server it is, the schema's revision
    against this worktrail's, and what is wrong: exit status 1 if anything is. Changes
    nothing: no store is created or migrated."""
    try:
        settings = load_settings().with_overrides(database_url=database_url)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    sources = setting_sources()
    if database_url is not None:
        sources["database_url"] = "flag (--database-url)"
    console.print(_settings_table(settings, sources))
    problems = _value_problems(settings)
    report = inspect_store(settings)
    console.print(_store_lines(report), soft_wrap=True, highlight=False)
    problems += _store_problems(report)
    if problems:
        console.print("\n[bold red]What is wrong:[/bold red]")
        for problem in problems:
            console.print(f"- {escape(problem)}", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print("\nNo problems found.")


def _settings_table(settings: Settings, sources: dict[str, str]) -> Table:
    table = Table("setting", "value", "from", title="Configuration")
    for name, value in settings.masked().items():
        shown = _described(value) if name in _URL_SETTINGS else value
        table.add_row(name, escape(str(shown)), sources[name])
    return table


# settings that hold database URLs, shown without their passwords
_URL_SETTINGS = ("database_url", "database_replica_urls", "database_listen_url")


def _described(urls: str) -> str:
    return ",".join(describe(url.strip()) for url in urls.split(",") if url.strip())


def _value_problems(settings: Settings) -> list[str]:
    """What is wrong with the values only the code that uses them reads (imported here,
    not at the top, so that other commands do not pay for them)."""
    from .web.exposition import metrics_placement
    from .web.logs import formatter, level_of
    from .worker.loop import retry_schedule

    checks = (
        lambda: metrics_placement(settings.metrics),
        lambda: formatter(settings.log_format),
        lambda: level_of(settings.log_level),
        lambda: retry_schedule(settings),
    )
    problems = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems.append(str(exc))
    if settings.page_limit_default > settings.page_limit_max:
        problems.append("page_limit_default is larger than page_limit_max")
    return problems


def _store_lines(report: StoreReport) -> str:
    lines = [f"\nStore: {report.where}"]
    if report.reachable:
        lines.append(f"Database: answers ({report.server})")
        lines.append(f"Schema: {report.revision or 'none'} (this worktrail's: {report.head})")
    else:
        lines.append(f"Database: {'does not answer' if report.found else 'not found'}")
    return "\n".join(lines)


def _store_problems(report: StoreReport) -> list[str]:
    if not report.found:
        return [
            f"no store at {report.where}: {report.problem}; `worktrail migrate` makes one "
            "(or name another with --database-url or WORKTRAIL_DATABASE_URL)"
        ]
    if not report.reachable:
        return [f"the database at {report.where} does not answer: {report.problem}"]
    if report.revision is None:
        return [f"{report.where} holds no worktrail schema: `worktrail migrate` makes one"]
    if report.revision not in revisions():
        return [
            f"the schema is at {report.revision}, a revision this worktrail does not know "
            "(was it migrated by a newer version?)"
        ]
    if report.revision != report.head:
        return [
            f"the schema is at {report.revision}, behind this worktrail's {report.head}: "
            "run `worktrail migrate`"
        ]
    return []
