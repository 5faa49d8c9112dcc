"""The write side: every change becomes entity state plus an event in one transaction
under the organization's append lock. Commands (commands.py) for the system of record,
ingest (ingest.py) for sidecars, organization setup (organizations.py); all of them go
through the Recorder (recorder.py)."""

from ..store import TokenChanges, TokenRow
from .commands import Writer
from .ingest import BatchRejected, IngestResult, ingest
from .organizations import NewOrganization, create_organization
from .recorder import Recorder, WriteResult, apply_patch

__all__ = [
    "BatchRejected",
    "IngestResult",
    "NewOrganization",
    "Recorder",
    "TokenChanges",
    "TokenRow",
    "WriteResult",
    "Writer",
    "apply_patch",
    "create_organization",
    "ingest",
]
