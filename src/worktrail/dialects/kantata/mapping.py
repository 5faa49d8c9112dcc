"""worktrail's entities and actions in Kantata's terms.

A worktrail project is a Kantata workspace, a task (or subtask) a story, a workspace a
workspace group, a comment a post, a user a user and the organization the account. Each
entity type has its subject type (CamelCase), its event-type prefix (snake_case), its
top-level key for side-loaded objects (plural) and the names its fields take in payloads.
Verbs are Kantata's three: created, updated (also for closes, reopens and restores) and
deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...model import ENTITY_SPECS, Action, EntityType, FieldKind


@dataclass(frozen=True)
class KantataType:
    entity: EntityType
    subject_type: str  # CamelCase model name, e.g. "Story"
    prefix: str  # event-type prefix, e.g. "story"
    key: str  # top-level key of side-loaded objects, e.g. "stories"
    fields: dict[str, str]  # worktrail field -> Kantata field
    description: str


KANTATA_TYPES: dict[EntityType, KantataType] = {
    t.entity: t
    for t in (
        KantataType(
            EntityType.ORGANIZATION,
            "Account",
            "account",
            "accounts",
            {"name": "name", "timezone": "timezone"},
            "The account: the worktrail organization itself.",
        ),
        KantataType(
            EntityType.USER,
            "User",
            "user",
            "users",
            {"name": "full_name", "email": "email_address", "role": "role"},
            "A user of the account.",
        ),
        KantataType(
            EntityType.WORKSPACE,
            "WorkspaceGroup",
            "workspace_group",
            "workspace_groups",
            {
                "name": "name",
                "description": "description",
                "members": "user_ids",
                "locked": "locked",
            },
            "A worktrail workspace: a group of projects (Kantata workspaces).",
        ),
        KantataType(
            EntityType.PROJECT,
            "Workspace",
            "workspace",
            "workspaces",
            {
                "workspace": "workspace_group_ids",
                "name": "title",
                "description": "description",
                "owner": "owner_id",
                "members": "participant_ids",
                "archived": "archived",
                "due_on": "due_date",
            },
            "A worktrail project.",
        ),
        KantataType(
            EntityType.TASK,
            "Story",
            "story",
            "stories",
            {
                "project": "workspace_id",
                "parent": "parent_id",
                "name": "title",
                "notes": "description",
                "assignee": "assignee_id",
                "followers": "follower_ids",
                "tags": "tags",
                "due_on": "due_date",
                "due_at": "due_at",
                "priority": "priority",
                "status": "status",
                "completed": "completed",
                "custom_fields": "custom_fields",
            },
            "A worktrail task or subtask.",
        ),
        KantataType(
            EntityType.COMMENT,
            "Post",
            "post",
            "posts",
            {"task": "story_id", "text": "message"},
            "A comment on a task.",
        ),
    )
}
BY_SUBJECT_TYPE = {t.subject_type: t for t in KANTATA_TYPES.values()}
BY_PREFIX = {t.prefix: t for t in KANTATA_TYPES.values()}

VERBS = ("created", "updated", "deleted")
VERB_OF_ACTION: dict[Action, str] = {
    Action.CREATED: "created",
    Action.UPDATED: "updated",
    Action.CLOSED: "updated",
    Action.REOPENED: "updated",
    Action.RESTORED: "updated",
    Action.DELETED: "deleted",
}
ACTIONS_OF_VERB: dict[str, tuple[str, ...]] = {
    verb: tuple(a.value for a, v in VERB_OF_ACTION.items() if v == verb) for verb in VERBS
}
# most_recent_by_event_type: the newest event per subject and verb. Created and deleted are
# classes of their own; every other action (updated, closed, reopened, restored) is
# `:updated` and so forms the remaining class.
VERB_CLASSES: tuple[tuple[str, ...], ...] = (("created",), ("deleted",))

# Subject types Kantata documents for the subject_type filter; worktrail emits some of them
# (and Account and Post besides). The others are accepted and match nothing.
KANTATA_SUBJECT_TYPES = frozenset(
    (
        "AccountColor",
        "AccountLocation",
        "AccountMembership",
        "Assignment",
        "BudgetChangeOrder",
        "CostRate",
        "CustomField",
        "CustomFieldSet",
        "DefaultStatusSet",
        "EmailAddress",
        "Estimate",
        "EstimateScenario",
        "EstimateScenarioResource",
        "Expense",
        "ExpenseReportSubmission",
        "Invoice",
        "LineItemLock",
        "Organization",
        "OrganizationMembership",
        "Participation",
        "ProjectAccessControl",
        "Role",
        "ScheduleChangeOrder",
        "Skill",
        "SkillMembership",
        "StatusSet",
        "StatusSetOption",
        "Story",
        "StoryAllocationDay",
        "TimeEntry",
        "TimeOffEntry",
        "TimesheetSubmission",
        "User",
        "Vendor",
        "Workspace",
        "WorkspaceAllocation",
        "WorkspaceApprover",
        "WorkspaceGroup",
        "WorkspaceInvitation",
        "WorkspaceResource",
        "WorkspaceStatusSet",
        "Workweek",
        "WorkweekMembership",
    )
) | frozenset(BY_SUBJECT_TYPE)


def event_type(entity: EntityType, action: Action) -> str:
    return f"{KANTATA_TYPES[entity].prefix}:{VERB_OF_ACTION[action]}"


def all_event_types() -> list[str]:
    return sorted(f"{t.prefix}:{verb}" for t in KANTATA_TYPES.values() for verb in VERBS)


FIELD_TYPES = {
    FieldKind.TEXT: "string",
    FieldKind.BOOL: "boolean",
    FieldKind.INT: "integer",
    FieldKind.DATE: "date",
    FieldKind.DATETIME: "datetime",
    FieldKind.REF: "string",
    FieldKind.REF_SET: "array",
    FieldKind.TAG_SET: "array",
    FieldKind.JSON_MAP: "object",
    FieldKind.ENUM: "string",
}


_O, _U, _W, _P, _T, _C = (
    EntityType.ORGANIZATION,
    EntityType.USER,
    EntityType.WORKSPACE,
    EntityType.PROJECT,
    EntityType.TASK,
    EntityType.COMMENT,
)
FIELD_DESCRIPTIONS: dict[tuple[EntityType, str], str] = {
    (_O, "name"): "The account's name.",
    (_O, "timezone"): "The account's time zone (IANA name); times are shown in it.",
    (_U, "name"): "The user's full name.",
    (_U, "email"): "The user's email address.",
    (_U, "role"): "The user's role in the account: owner, admin, member or guest.",
    (_W, "name"): "The group's name.",
    (_W, "description"): "The group's description.",
    (_W, "members"): "The ids of the users who belong to the group.",
    (_W, "locked"): "Whether the group is locked.",
    (_P, "workspace"): "The id of the workspace group the project lies in (one).",
    (_P, "name"): "The project's title.",
    (_P, "description"): "The project's description.",
    (_P, "owner"): "The id of the user who leads the project.",
    (_P, "members"): "The ids of the project's participants.",
    (_P, "archived"): "Whether the project is archived.",
    (_P, "due_on"): "The project's due date (YYYY-MM-DD).",
    (_T, "project"): "The id of the workspace (project) a top-level story lies in.",
    (_T, "parent"): "The id of the parent story of a sub-story.",
    (_T, "name"): "The story's title.",
    (_T, "notes"): "The story's description.",
    (_T, "assignee"): "The id of the assigned user.",
    (_T, "followers"): "The ids of the users who follow the story.",
    (_T, "tags"): "The story's tags.",
    (_T, "due_on"): "The due date (YYYY-MM-DD).",
    (_T, "due_at"): "The due date and time (ISO 8601, UTC).",
    (_T, "priority"): "The priority: none, low, medium, high or urgent.",
    (_T, "status"): "The status: open, in_progress, blocked, review or done.",
    (_T, "completed"): "Whether the story is completed (closed).",
    (_T, "custom_fields"): "Custom fields: an object of name and value.",
    (_C, "task"): "The id of the story the post comments on.",
    (_C, "text"): "The text of the post.",
}


def event_type_schemas() -> dict[str, dict[str, object]]:
    """`subscribed_event_type_schemas`: for each event type, the fields its payloads carry."""
    schemas: dict[str, dict[str, object]] = {}
    for kt in KANTATA_TYPES.values():
        fields: dict[str, object] = {
            "id": {"name": "id", "type": "string", "description": f"The {kt.subject_type} id."}
        }
        for field, name in kt.fields.items():
            spec = ENTITY_SPECS[kt.entity].fields[field]
            kind = "array" if field == "workspace" else FIELD_TYPES[spec.kind]
            fields[name] = {
                "name": name,
                "type": kind,
                "description": FIELD_DESCRIPTIONS[(kt.entity, field)],
            }
        for verb in VERBS:
            name = f"{kt.prefix}:{verb}"
            schemas[name] = {
                "name": name,
                "description": f"{kt.description} Emitted when one is {_VERB_TEXT[verb]}.",
                "fields": fields,
            }
    return dict(sorted(schemas.items()))


_VERB_TEXT = {
    "created": "created",
    "updated": "changed, closed, reopened or restored",
    "deleted": "deleted",
}
