"""A Customer.io App API look-alike: generated workspaces, fault knobs, served over real HTTP."""

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
from cio_warehouse.sandbox.request_log import LoggedRequest
from cio_warehouse.sandbox.server import SandboxServer
from cio_warehouse.sandbox.tables import TABLES, TableSpec
from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS
from cio_warehouse.sandbox.workspace import Workspace

__all__ = [
    "SUBSCRIBABLE_EVENTS",
    "TABLES",
    "FailAlways",
    "Fault",
    "FaultError",
    "Latency",
    "LoggedRequest",
    "RateLimited",
    "RepeatCursor",
    "SandboxServer",
    "ServerError",
    "Slow",
    "TableSpec",
    "TruncatedBody",
    "Workspace",
    "fault_from_json",
    "fault_to_json",
]
