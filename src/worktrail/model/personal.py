"""Personal values: what a person may have erased from the history (the right to be
forgotten), and so what enters an event's hash only as a salted commitment.

| where in an event                                   | which values    |
|-----------------------------------------------------|-----------------|
| `actor` (whoever made the change)                   | `name`, `email` |
| changes, before, after of a `user`                  | `name`, `email` |
| changes, before, after of a `comment`               | `text`          |
| changes, before, after of a `task`                  | `notes`         |
| changes, before, after of a `project`, `workspace`  | `description`   |

Only string values are personal (an empty description, null, is not). The free text is
the person's who wrote it: the actor of the event that set the value.
"""

from __future__ import annotations

from .entities import EntityType

# What an erased value reads as, everywhere it is rendered.
ERASED = "[erased]"

# A person's identity: on their user entity and on every event they acted in.
IDENTITY_FIELDS = ("name", "email")

# Free text a person writes, by the type of the entity it belongs to.
FREE_TEXT: dict[EntityType, tuple[str, ...]] = {
    EntityType.COMMENT: ("text",),
    EntityType.TASK: ("notes",),
    EntityType.PROJECT: ("description",),
    EntityType.WORKSPACE: ("description",),
}

# The personal fields of each subject type's changes, before and after.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    EntityType.USER.value: IDENTITY_FIELDS,
    **{t.value: fields for t, fields in FREE_TEXT.items()},
}
