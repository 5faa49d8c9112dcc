# ruff: noqa: RUF001 (the Russian names are Cyrillic on purpose)
"""The words Tracker uses: field ids and names, event names, values of enumerations.

worktrail fields read as Tracker fields under Tracker's ids where Tracker has the field:

    name                    summary
    notes, description      description
    assignee, followers,    assignee, followers, tags, priority, status (as they are)
    tags, priority, status
    due_on                  deadline on a task (an issue's deadline), end on a project
                            (an entity's "Deadline")
    owner                   lead (an entity's responsible person)
    members                 teamUsers
    completed               resolution: set when an issue is closed, cleared when reopened
    workspace (a project's) parentEntity: the portfolio the project belongs to
    project, parent         project, parent (an issue's project and parent issue)
    task (a comment's)      issue
    text (a comment's)      comment.text

Fields Tracker lacks keep worktrail's name in camelCase (dueAt, archived, locked); custom
fields are named by their key. Names come in English, or in Russian when the request
prefers it (Accept-Language: ru), as Tracker's own do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...model import Action, EntityType

Lang = Literal["en", "ru"]


@dataclass(frozen=True)
class Word:
    """A name in both languages Tracker speaks."""

    en: str
    ru: str

    def __call__(self, lang: Lang) -> str:
        return self.ru if lang == "ru" else self.en


@dataclass(frozen=True)
class TrackerField:
    id: str
    name: Word
    type: str = "string"  # the value type Tracker's field list gives in `schema`
    items: str | None = None  # for arrays: the type of their items


def _f(field_id: str, en: str, ru: str, kind: str = "string") -> TrackerField:
    """A field; `kind` is its value type, "array/<item type>" for sets."""
    head, _, items = kind.partition("/")
    return TrackerField(field_id, Word(en, ru), head, items or None)


SUMMARY = _f("summary", "Summary", "Название")
DESCRIPTION = _f("description", "Description", "Описание")
TEAM = _f("teamUsers", "Members", "Участники", "array/user")

FIELDS: dict[EntityType, dict[str, TrackerField]] = {
    EntityType.TASK: {
        "name": SUMMARY,
        "notes": DESCRIPTION,
        "project": _f("project", "Project", "Проект", "entity"),
        "parent": _f("parent", "Parent issue", "Родительская задача", "issue"),
        "assignee": _f("assignee", "Assignee", "Исполнитель", "user"),
        "followers": _f("followers", "Followers", "Наблюдатели", "array/user"),
        "tags": _f("tags", "Tags", "Теги", "array/string"),
        "due_on": _f("deadline", "Deadline", "Дедлайн", "date"),
        "due_at": _f("dueAt", "Due at", "Срок", "datetime"),
        "priority": _f("priority", "Priority", "Приоритет", "priority"),
        "status": _f("status", "Status", "Статус", "status"),
        "completed": _f("resolution", "Resolution", "Резолюция", "resolution"),
    },
    EntityType.PROJECT: {
        "name": SUMMARY,
        "description": DESCRIPTION,
        "workspace": _f("parentEntity", "Portfolio", "Портфель", "entity"),
        "owner": _f("lead", "Responsible", "Ответственный", "user"),
        "members": TEAM,
        "archived": _f("archived", "Archived", "В архиве", "boolean"),
        "due_on": _f("end", "Deadline", "Дедлайн", "date"),
    },
    EntityType.WORKSPACE: {
        "name": SUMMARY,
        "description": DESCRIPTION,
        "members": TEAM,
        "locked": _f("locked", "Locked", "Заблокирован", "boolean"),
    },
    EntityType.COMMENT: {
        "task": _f("issue", "Issue", "Задача", "issue"),
        "text": _f("comment.text", "Comment text", "Текст комментария"),
    },
}

DELETED = _f("deleted", "Deleted", "Удалено", "boolean")


def tracker_field(entity_type: EntityType, name: str) -> TrackerField:
    """The Tracker field a worktrail field (or `custom_fields.<key>`) reads as."""
    known = FIELDS.get(entity_type, {}).get(name)
    if known is not None:
        return known
    if name.startswith("custom_fields."):
        key = name.partition(".")[2]
        return _f(key, key, key)
    head, *rest = name.split("_")
    return _f(head + "".join(part.title() for part in rest), name, name)


def _event_names(noun: Word, verbs: dict[Action, Word]) -> dict[Action, Word]:
    return {a: Word(f"{noun.en} {w.en}", f"{noun.ru} {w.ru}") for a, w in verbs.items()}


# Russian verbs agree with the noun: задача (feminine), the others masculine.
_FEMININE = {
    Action.CREATED: Word("created", "создана"),
    Action.UPDATED: Word("updated", "обновлена"),
    Action.DELETED: Word("deleted", "удалена"),
    Action.RESTORED: Word("restored", "восстановлена"),
}
_MASCULINE = {
    Action.CREATED: Word("created", "создан"),
    Action.UPDATED: Word("updated", "обновлён"),
    Action.DELETED: Word("deleted", "удалён"),
    Action.RESTORED: Word("restored", "восстановлен"),
}
STATUS_CHANGED = Word("Status changed", "Статус изменён")

EVENT_NAMES: dict[EntityType, dict[Action, Word]] = {
    EntityType.TASK: {
        **_event_names(Word("Issue", "Задача"), _FEMININE),
        Action.CLOSED: STATUS_CHANGED,
        Action.REOPENED: STATUS_CHANGED,
    },
    EntityType.COMMENT: {
        **_event_names(Word("Comment", "Комментарий"), _MASCULINE),
        Action.CREATED: Word("Comment added", "Комментарий добавлен"),
        Action.UPDATED: Word("Comment updated", "Комментарий изменён"),
    },
    EntityType.PROJECT: _event_names(Word("Project", "Проект"), _MASCULINE),
    EntityType.WORKSPACE: _event_names(Word("Portfolio", "Портфель"), _MASCULINE),
}


def event_name(entity_type: EntityType, action: Action) -> Word:
    names = EVENT_NAMES.get(entity_type, {})
    return names.get(action) or names.get(Action.UPDATED) or Word("Updated", "Изменено")


@dataclass(frozen=True)
class Choice:
    """A value of an enumeration as Tracker shows it: a key and a name."""

    key: str
    name: Word


STATUSES = {
    "open": Choice("open", Word("Open", "Открыт")),
    "in_progress": Choice("inProgress", Word("In progress", "В работе")),
    "blocked": Choice("blocked", Word("Blocked", "Заблокирован")),
    "review": Choice("review", Word("Review", "На проверке")),
    "done": Choice("done", Word("Done", "Готово")),
}
# worktrail's "none" priority is no priority: it reads as an empty value.
PRIORITIES = {
    "low": Choice("low", Word("Low", "Низкий")),
    "medium": Choice("medium", Word("Medium", "Средний")),
    "high": Choice("high", Word("High", "Высокий")),
    "urgent": Choice("urgent", Word("Urgent", "Срочный")),
}
RESOLVED = Choice("fixed", Word("Fixed", "Решён"))
YES = Word("Yes", "Да")
CHOICES = {"status": STATUSES, "priority": PRIORITIES}


def language(accept_language: str) -> Lang:
    """Russian when the client prefers it to English (Accept-Language), else English."""
    best: tuple[float, Lang] = (0.0, "en")
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("ru", "en"):
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if quality > best[0]:
            best = (quality, "ru" if primary == "ru" else "en")
    return best[1]
