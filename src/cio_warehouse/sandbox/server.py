"""SandboxServer: the sandbox on a real port, served by uvicorn from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from cio_warehouse.sandbox.app import build_app
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.delivery_log import DeliveryAttempt, WebhookDeliveryStats
from cio_warehouse.sandbox.faults import Fault, fault_from_json
from cio_warehouse.sandbox.gate import install_log_filter
from cio_warehouse.sandbox.history import MessageHistory, Row
from cio_warehouse.sandbox.lanes import Enqueued
from cio_warehouse.sandbox.request_log import LoggedRequest
from cio_warehouse.sandbox.retry_policy import RetryPolicy
from cio_warehouse.sandbox.sender import WebhookSender
from cio_warehouse.sandbox.state import DEFAULT_RATE_LIMIT_RPS, SandboxState
from cio_warehouse.sandbox.workspace import Workspace

_START_TIMEOUT = 10.0
DEFAULT_HISTORY_DAYS = 14.0
# One delivery a minute (~1,440 a day): two weeks of history is ~20,000 rows, 21 full pages.
DEFAULT_DELIVERY_GAP_MS = 60_000


class SandboxServer:
    """`with SandboxServer(Workspace.preset("small"), api_key="k") as sb: httpx.get(sb.url + ...)`.

    Knobs, the request log and signing keys are reached directly in Python (no HTTP needed).
    The webhook sender POSTs signed reporting-webhook events to the enabled webhooks from its
    own thread: `send`, `stream`, `delivery_log`, `delivery_stats`, `wait_delivered`.
    `GET /v1/messages` lists the same deliveries as history, up to the sandbox's clock:
    `now`, `advance_clock`, `set_clock`, and `history_rows`/`history_ids` as test oracles.
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_rps: int | None = DEFAULT_RATE_LIMIT_RPS,
        rate_limit_retry_after: bool = True,
        webhook_events: str = "docs",
        refused_webhook_events: Iterable[str] = (),
        latency_ms: float = 0.0,
        forbidden_paths: Iterable[str] = (),
        faults: Iterable[Fault | Mapping[str, Any]] = (),
        loop: str = "asyncio",
        delivery_timeout_s: float = 4.0,
        retry_time_scale: float = 1.0,
        events_start: int | None = None,
        stream_rate: float = 0.0,
        history_days: float = DEFAULT_HISTORY_DAYS,
        delivery_gap_ms: int = DEFAULT_DELIVERY_GAP_MS,
    ) -> None:
        self.state = SandboxState(
            workspace if workspace is not None else Workspace.preset("small"),
            api_key,
            rate_limit_rps=rate_limit_rps,
            rate_limit_retry_after=rate_limit_retry_after,
            webhook_events=webhook_events,
            refused_webhook_events=frozenset(refused_webhook_events),
            latency_ms=latency_ms,
            forbidden_paths=tuple(forbidden_paths),
        )
        self.set_faults(faults)
        if history_days < 0:
            raise ValueError("history_days cannot be negative")
        # Events start now unless told otherwise (a fixed `events_start` makes them repeatable).
        # One generator for the webhook stream and message history, so delivery ids match.
        generator = DeliveryGenerator(
            self.state.workspace, start=int(time.time()) if events_start is None else events_start,
            mean_gap_ms=delivery_gap_ms,
        )
        if events_start is not None:
            # A fixed start fixes history too: the sandbox's now begins at the first event.
            self.state.clock.set(events_start)
        # History reaches `history_days` back from the sandbox's start; the clock adds to it.
        self.history = MessageHistory(
            generator, self.state.clock, int(self.state.clock.now() - history_days * 86_400),
        )
        self.sender = WebhookSender(
            self.state.webhooks, generator,
            RetryPolicy(timeout_s=delivery_timeout_s, time_scale=retry_time_scale),
        )
        if stream_rate < 0:
            raise ValueError("stream_rate cannot be negative")
        self._stream_rate = stream_rate
        self._config = uvicorn.Config(
            build_app(self.state, self.sender, self.history), host=host, port=port, loop=loop,
            lifespan="off", ws="none", log_level="warning", access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._host = host
        self._port = port

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url if self._server else None!r}, api_key=***)"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("this SandboxServer was already started")
        install_log_filter()  # again: uvicorn's logging set-up may have run since build_app
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._serve, name="cio-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox did not start: {self._failure!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox did not start within 10 s")
            time.sleep(0.005)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection((self._host, self._port), timeout=_START_TIMEOUT):
            pass  # the port answers
        self.sender.start()
        if self._stream_rate > 0:
            self.sender.stream(self._stream_rate)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.sender.stop()
        self.state.stopping.set()  # wakes requests sleeping in latency/slow knobs
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.run()
        except BaseException as exc:  # uvicorn exits via SystemExit on bind errors
            self._failure = exc

    # -- what tests use -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT (paths start with /v1)."""
        if self._server is None or not self._server.started:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def workspace(self) -> Workspace:
        return self.state.workspace

    def set_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the armed knobs (typed knobs or their JSON form)."""
        self.state.set_faults(
            fault_from_json(dict(fault)) if isinstance(fault, Mapping) else fault
            for fault in faults
        )

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The armed knobs with how many matching requests each saw and how often it fired."""
        return self.state.faults.snapshot()

    def requests(self) -> list[LoggedRequest]:
        return self.state.log.entries()

    def clear_requests(self) -> None:
        self.state.log.clear()

    def reset_rate_limit(self) -> None:
        self.state.limiter.reset()

    def signing_key(self, webhook_id: int) -> str:
        """The key a user would copy from Customer.io's UI (KeyError if no such webhook)."""
        return self.state.webhooks.signing_key(webhook_id)

    def webhooks(self) -> list[dict[str, Any]]:
        return self.state.webhooks.webhooks()

    # -- message history and its clock ----------------------------------------------------

    def now(self) -> float:
        """The sandbox's now (unix seconds): wall time plus what the clock was moved by."""
        return self.state.clock.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox's now forward (negative: back); returns the new now."""
        return self.state.clock.advance(seconds)

    def set_clock(self, now: float) -> float:
        """Make the sandbox's now `now` (unix seconds); it runs on from there."""
        return self.state.clock.set(now)

    def history_rows(
        self, start_ts: int | None = None, end_ts: int | None = None,
    ) -> list[Row]:
        """Every row `/v1/messages` lists for [start_ts, end_ts) at the current now, in its
        order (newest first): the oracle for tests. Defaults: all of history."""
        end = int(self.now()) + 1 if end_ts is None else end_ts
        return self.history.walk(self.history.history_start if start_ts is None else start_ts,
                                 end)

    def history_ids(self, start_ts: int | None = None, end_ts: int | None = None) -> list[str]:
        """The delivery ids of `history_rows(start_ts, end_ts)`."""
        return [row["id"] for row in self.history_rows(start_ts, end_ts)]

    # -- the reporting-webhook sender -----------------------------------------------------

    @property
    def generator(self) -> DeliveryGenerator:
        """Builds events of any kind for this workspace (`event`, `events`, `combinations`)."""
        return self.sender.generator

    @property
    def send(self) -> Callable[..., Enqueued]:
        """Queue events for delivery: the sender's own `send` (see it for the modes)."""
        return self.sender.send

    def stream(
        self, rate_per_s: float, *, duration_s: float | None = None, count: int | None = None,
        webhook_id: int | None = None,
    ) -> None:
        """Send `rate_per_s` events a second in the background (bounded or until stop_stream)."""
        self.sender.stream(rate_per_s, duration_s=duration_s, count=count, webhook_id=webhook_id)

    def stop_stream(self) -> None:
        self.sender.stop_stream()

    def delivery_log(self) -> list[DeliveryAttempt]:
        """Every HTTP attempt in order: event_id, webhook_id, attempt, status or error, ..."""
        return self.sender.log.attempts()

    def clear_delivery_log(self) -> None:
        self.sender.log.clear()

    def delivery_stats(self) -> dict[int, WebhookDeliveryStats]:
        """Per webhook: queued, delivered, failed attempts, retries, pending, given up, ..."""
        return self.sender.stats()

    def wait_delivered(self, timeout: float = 10.0) -> bool:
        """Block until nothing is pending (True) or `timeout` seconds passed (False)."""
        return self.sender.wait_delivered(timeout)

    def retry_now(self) -> None:
        """Skip the backoff: blocked webhooks retry their head delivery at once."""
        self.sender.retry_now()

    def configure_sender(
        self, *, timeout_s: float | None = None, retry_time_scale: float | None = None,
    ) -> RetryPolicy:
        return self.sender.configure(timeout_s=timeout_s, time_scale=retry_time_scale)
