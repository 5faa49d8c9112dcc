"""The write side: every change becomes entity state plus an event in one transaction
under the organization's append lock. Commands (commands.py) for the system of record,
ingest (ingest.py) for sidecars, organization setup (organizations.py); all of them go
through the Recorder (recorder.py)."""

from ..store import CheckpointRecord, TokenChanges, TokenRow
from .checkpoints import Notary, SigningUnavailable
from .commands import Writer
from .ingest import BatchRejected, IngestResult, ingest
from .organizations import NewOrganization, create_organization
from .recorder import Recorder, WriteResult, apply_patch

__all__ = [
    "BatchRejected",
    "CheckpointRecord",
    "IngestResult",
    "NewOrganization",
    "Notary",
    "Recorder",
    "SigningUnavailable",
    "TokenChanges",
    "TokenRow",
    "WriteResult",
    "Writer",
    "apply_patch",
    "create_organization",
    "ingest",
]
