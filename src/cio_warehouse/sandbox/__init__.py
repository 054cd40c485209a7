"""A Customer.io look-alike: App API over HTTP, generated workspaces, knobs, the webhook sender."""

from cio_warehouse.sandbox.behaviour import Behaviour
from cio_warehouse.sandbox.deliveries import DeliveryGenerator, ReportingEvent
from cio_warehouse.sandbox.delivery_log import DeliveryAttempt, WebhookDeliveryStats
from cio_warehouse.sandbox.faults import (
    FailAlways,
    Fault,
    FaultError,
    Latency,
    RateLimited,
    RepeatCursor,
    ServerError,
    Slow,
    TruncatedBody,
    fault_from_json,
    fault_to_json,
)
from cio_warehouse.sandbox.lanes import MODES, Enqueued, Mode
from cio_warehouse.sandbox.request_log import LoggedRequest
from cio_warehouse.sandbox.retry_policy import RetryPolicy
from cio_warehouse.sandbox.server import SandboxServer
from cio_warehouse.sandbox.signing import signature
from cio_warehouse.sandbox.tables import TABLES, TableSpec
from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS
from cio_warehouse.sandbox.workspace import Workspace

__all__ = [
    "MODES",
    "SUBSCRIBABLE_EVENTS",
    "TABLES",
    "Behaviour",
    "DeliveryAttempt",
    "DeliveryGenerator",
    "Enqueued",
    "FailAlways",
    "Fault",
    "FaultError",
    "Latency",
    "LoggedRequest",
    "Mode",
    "RateLimited",
    "RepeatCursor",
    "ReportingEvent",
    "RetryPolicy",
    "SandboxServer",
    "ServerError",
    "Slow",
    "TableSpec",
    "TruncatedBody",
    "WebhookDeliveryStats",
    "Workspace",
    "fault_from_json",
    "fault_to_json",
    "signature",
]
