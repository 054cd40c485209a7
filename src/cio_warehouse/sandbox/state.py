"""Everything a running sandbox holds: the workspace, the key, the limiter, knobs, log, webhooks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cio_warehouse.sandbox.clock import SandboxClock
from cio_warehouse.sandbox.fault_board import FaultBoard
from cio_warehouse.sandbox.faults import Fault
from cio_warehouse.sandbox.rate_limit import SlidingWindowLimiter
from cio_warehouse.sandbox.request_log import RequestLog
from cio_warehouse.sandbox.webhooks import WebhookStore
from cio_warehouse.sandbox.workspace import Workspace

DEFAULT_RATE_LIMIT_RPS = 10
_SLICE = 0.05


@dataclass
class SandboxState:
    workspace: Workspace
    api_key: str
    rate_limit_rps: int | None = DEFAULT_RATE_LIMIT_RPS
    # Live: a 429 carries Retry-After (seconds until the window has room); False: as documented,
    # none (docs/customerio-behaviour.md).
    rate_limit_retry_after: bool = True
    latency_ms: float = 0.0
    # Path prefixes the key's scope lacks: 403 (customerio-api.md: 403 = scope lacks the endpoint).
    forbidden_paths: tuple[str, ...] = ()
    # Which event names a reporting-webhook create/replace accepts: "docs" or "live"
    # (sandbox/webhooks.py), and names refused on top.
    webhook_events: str = "docs"
    refused_webhook_events: frozenset[str] = frozenset()
    faults: FaultBoard = field(default_factory=FaultBoard)
    log: RequestLog = field(default_factory=RequestLog)
    webhooks: WebhookStore = field(init=False)
    limiter: SlidingWindowLimiter = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    # The now of message history (`/v1/messages`), moved by tests (`POST /_sandbox/clock`).
    clock: SandboxClock = field(default_factory=SandboxClock)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the sandbox needs a non-empty App API key")
        self.webhooks = WebhookStore(
            self.workspace.seed, self.webhook_events, self.refused_webhook_events
        )
        self.limiter = SlidingWindowLimiter(self.rate_limit_rps)

    def __repr__(self) -> str:
        # The key is a secret even in a sandbox: keep it out of reprs and logs.
        return f"SandboxState(workspace={self.workspace!r}, api_key=***)"

    def set_faults(self, faults: Iterable[Fault]) -> None:
        self.faults.replace(faults)

    def is_forbidden(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.forbidden_paths)

    async def sleep(self, seconds: float) -> bool:
        """Sleep, but wake early when the server stops; False if it was cut short."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, _SLICE))
        return False
