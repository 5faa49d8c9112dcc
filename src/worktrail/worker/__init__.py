"""The delivery worker: dispatches what each webhook subscription is owed and delivers it
(dispatch.py, deliver.py), woken by commits (loop.py). It runs inside `worktrail serve` and
as `worktrail worker` processes, any number of them, coordinating through the database."""

from ..config import Settings
from ..delivery.styles import DeliveryStyle, NativeStyle
from ..dialects import load_dialects
from ..store import Store
from .checkpoints import CheckpointWorker
from .loop import DeliveryWorker
from .retention import RetentionWorker


def delivery_styles() -> dict[str, DeliveryStyle]:
    """Every kind of subscription and how it is delivered: worktrail's own, and each
    vendor dialect's that has webhooks."""
    styles: dict[str, DeliveryStyle] = {"native": NativeStyle()}
    for dialect in load_dialects():
        if dialect.webhooks is not None:
            styles[dialect.webhooks.kind] = dialect.webhooks
    return styles


def build_worker(store: Store, settings: Settings) -> DeliveryWorker:
    return DeliveryWorker(store, settings, delivery_styles())


__all__ = [
    "CheckpointWorker",
    "DeliveryWorker",
    "RetentionWorker",
    "build_worker",
    "delivery_styles",
]
