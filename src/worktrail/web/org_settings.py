"""Per-organization settings, declared once by whoever reads them.

The settings are options of the readers (the Kantata dialect's retention window and payload
encoding, for instance). A reader declares each of its settings here with `int_setting` or
`choice_setting`, so the settings endpoint (api/org_settings.py) can validate and document
it; values live in the organization's JSON settings, defaults here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..query import Reader


@dataclass(frozen=True)
class OrgSetting:
    name: str
    default: Any
    help: str
    check: Callable[[Any], Any]  # the value to store, or ValueError saying what is wrong


DECLARED: dict[str, OrgSetting] = {}


def declare(setting: OrgSetting) -> OrgSetting:
    DECLARED[setting.name] = setting
    return setting


def int_setting(name: str, default: int, lo: int, hi: int, help_text: str) -> OrgSetting:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValueError(f"an integer from {lo} to {hi}")
        return value

    return declare(OrgSetting(name, default, help_text, check))


def choice_setting(name: str, default: str, choices: Sequence[str], help_text: str) -> OrgSetting:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("one of " + ", ".join(repr(c) for c in choices))
        return str(value)

    return declare(OrgSetting(name, default, help_text, check))


def org_settings(reader: Reader) -> dict[str, Any]:
    """Every declared setting of the reader's organization: its stored value, else the
    default."""
    stored = reader.org_record().settings
    return {name: stored.get(name, setting.default) for name, setting in sorted(DECLARED.items())}
