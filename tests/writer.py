"""A writer in a process of its own, for tests that need writes going on elsewhere: it
creates workspaces in the first organization of the store at argv[1], one transaction
each, and prints the seq of each event once it is committed (acknowledged), until killed.

    python -m tests.writer sqlite:///path.db
"""

from __future__ import annotations

import sys
from itertools import count

from worktrail.auth import principal_for_user
from worktrail.config import Settings
from worktrail.model import EntityType
from worktrail.store import open_store
from worktrail.write import Writer


def main(url: str) -> None:
    store = open_store(Settings(database_url=url), create=False)
    org = store.list_orgs()[0]
    users = store.list_entities(org.id, EntityType.USER, limit=1000)
    owner = next(u for u in users if u.state.get("role") == "owner")
    principal = principal_for_user(owner)
    writer = Writer(store)
    for n in count():
        result = writer.create(principal, EntityType.WORKSPACE, {"name": f"written {n}"})
        assert result.event is not None
        print(result.event.seq, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
