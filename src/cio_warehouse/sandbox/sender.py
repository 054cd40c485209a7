"""The sending side of the Reporting Webhook: queues per webhook, retries, head-of-line blocking."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from itertools import islice
from typing import Any

import httpx

from cio_warehouse.sandbox.deliveries import DeliveryGenerator, ReportingEvent
from cio_warehouse.sandbox.delivery_log import DeliveryAttempt, DeliveryLog, WebhookDeliveryStats
from cio_warehouse.sandbox.lanes import (
    DEFAULT_STALE_BY_S,
    MODES,
    PROBES,
    Enqueued,
    Item,
    Lane,
    Mode,
)
from cio_warehouse.sandbox.retry_policy import RetryPolicy
from cio_warehouse.sandbox.webhook_post import headers_for, post_once
from cio_warehouse.sandbox.webhooks import Deliverable, UnknownWebhook, WebhookStore

_START_TIMEOUT = 10.0


class WebhookSender:
    """Runs its own event loop in a thread, so App API requests never wait behind deliveries."""

    def __init__(
        self, store: WebhookStore, generator: DeliveryGenerator, policy: RetryPolicy | None = None,
    ) -> None:
        self._store = store
        self.generator = generator
        self.policy = policy or RetryPolicy()
        self.log = DeliveryLog()
        self._events: Iterator[ReportingEvent] = generator.stream()
        self._events_lock = threading.Lock()
        self._lock = threading.Lock()  # lanes and their queues
        self._lanes: dict[int, Lane] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._retry_now: asyncio.Event | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._stream_active = threading.Event()
        self._stream_finite = False
        self._failure: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("this sender was already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="cio-sandbox-sender",
                                        daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._setup(), self._loop).result(_START_TIMEOUT)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(_START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_START_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._client is not None

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _setup(self) -> None:
        self._retry_now = asyncio.Event()
        # post_once enforces the 4 s rule itself; no redirects, no proxies from the environment.
        self._client = httpx.AsyncClient(timeout=30.0, follow_redirects=False, trust_env=False)

    async def _shutdown(self) -> None:
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if self._stream_task is not None:
            tasks.append(self._stream_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._stream_active.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- what the server exposes ------------------------------------------------------------

    def send(
        self,
        events: int | Iterable[ReportingEvent | Mapping[str, Any]] = 1,
        *,
        webhook_id: int | None = None,
        mode: Mode = "normal",
        stale_by_s: float = DEFAULT_STALE_BY_S,
    ) -> Enqueued:
        """Queue events for every enabled webhook subscribed to them (or only `webhook_id`).

        An int draws that many events from the workspace's stream. Modes: `duplicate` re-sends
        the last `events` deliveries each webhook acknowledged (same bytes and event_id, fresh
        timestamp and signature, as Customer.io's retries do); `reorder` sends the batch newest
        first; probes go to each target regardless of its subscriptions, once, never retried:
        `stale` (a valid signature over a timestamp `stale_by_s` old), `bad_signature` (signed
        with another key), `bad_body` (signed, but the JSON is cut in half), `unsigned`.
        """
        self._check_running()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        targets = self._targets(webhook_id)
        if mode == "duplicate":
            if not isinstance(events, int):
                raise ValueError("duplicate takes a count of already delivered events")
            return self._duplicate(events, targets)
        batch = self.next_events(events) if isinstance(events, int) else [
            event if isinstance(event, ReportingEvent) else ReportingEvent.from_payload(event)
            for event in events
        ]
        if mode == "reorder":
            batch = sorted(batch, key=lambda event: event.timestamp, reverse=True)
        return self._dispatch(batch, targets, mode, stale_by_s)

    def next_events(self, count: int) -> list[ReportingEvent]:
        """The next `count` events of this sandbox's stream (never the same event twice)."""
        if count < 0:
            raise ValueError("count cannot be negative")
        with self._events_lock:
            return list(islice(self._events, count))

    def stream(
        self, rate_per_s: float, *, duration_s: float | None = None, count: int | None = None,
        webhook_id: int | None = None,
    ) -> None:
        """Send `rate_per_s` events a second in the background until `duration_s` passed or
        `count` were drawn (neither: until `stop_stream`). Replaces a running stream."""
        self._check_running()
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if (duration_s is not None and duration_s < 0) or (count is not None and count < 0):
            raise ValueError("duration_s and count cannot be negative")
        if webhook_id is not None:
            self._targets(webhook_id)
        self.stop_stream()
        assert self._loop is not None
        self._stream_finite = duration_s is not None or count is not None
        self._stream_active.set()
        asyncio.run_coroutine_threadsafe(
            self._start_stream(rate_per_s, duration_s, count, webhook_id), self._loop,
        ).result(_START_TIMEOUT)

    def stop_stream(self) -> None:
        if self._loop is not None and self.running:
            asyncio.run_coroutine_threadsafe(self._cancel_stream(), self._loop).result(
                _START_TIMEOUT)
        self._stream_active.clear()

    @property
    def streaming(self) -> bool:
        return self._stream_active.is_set()

    def retry_now(self) -> None:
        """Cut every backoff short: blocked queues try their head again at once."""
        if self._loop is not None and self.running:
            self._loop.call_soon_threadsafe(self._wake_retries)

    def configure(
        self, *, timeout_s: float | None = None, time_scale: float | None = None,
    ) -> RetryPolicy:
        changes: dict[str, float] = {}
        if timeout_s is not None:
            changes["timeout_s"] = timeout_s
        if time_scale is not None:
            changes["time_scale"] = time_scale
        self.policy = replace(self.policy, **changes)  # validated by RetryPolicy
        return self.policy

    def stats(self) -> dict[int, WebhookDeliveryStats]:
        """Counters per webhook: every registered webhook, and any that had deliveries."""
        stats = self.log.stats()
        for hook in self._store.webhooks():
            stats.setdefault(hook["id"], WebhookDeliveryStats())
        return dict(sorted(stats.items()))

    def wait_delivered(self, timeout: float = 10.0) -> bool:
        """True once nothing is pending and no bounded stream is still drawing events."""
        deadline = time.monotonic() + timeout
        while True:
            if self._failure is not None:
                raise RuntimeError("the webhook sender failed") from self._failure
            busy = self._stream_active.is_set() and self._stream_finite
            if not busy and self.log.pending() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    # -- routing ----------------------------------------------------------------------------

    def _check_running(self) -> None:
        if not self.running:
            raise RuntimeError("the webhook sender is not running (start the SandboxServer)")

    def _targets(self, webhook_id: int | None) -> list[Deliverable]:
        targets = self._store.deliverable()
        if webhook_id is None:
            return targets
        chosen = [target for target in targets if target.webhook["id"] == webhook_id]
        if not chosen:
            raise UnknownWebhook(webhook_id)
        return chosen

    def _dispatch(
        self, batch: list[ReportingEvent], targets: list[Deliverable], mode: Mode,
        stale_by_s: float = DEFAULT_STALE_BY_S,
    ) -> Enqueued:
        probe = mode in PROBES
        queued: dict[int, int] = {}
        items: list[tuple[int, Item]] = []
        for event in batch:
            for target in targets:
                hook = target.webhook
                if not probe and not _wants(hook, event):
                    continue
                body = event.to_bytes(bool(hook["with_content"]))
                if mode == "bad_body":
                    body = body[: len(body) // 2]  # any strict prefix of an object is bad JSON
                items.append((hook["id"], Item(event.event_id, body, mode,
                                                stale_by_s if mode == "stale" else 0.0)))
                queued[hook["id"]] = queued.get(hook["id"], 0) + 1
        self._enqueue(items)
        return Enqueued([event.event_id for event in batch], queued)

    def _duplicate(self, count: int, targets: list[Deliverable]) -> Enqueued:
        items: list[tuple[int, Item]] = []
        queued: dict[int, int] = {}
        with self._lock:
            for target in targets:
                webhook_id = target.webhook["id"]
                lane = self._lanes.get(webhook_id)
                done = list(lane.delivered)[-count:] if lane is not None and count > 0 else []
                for old in done:
                    items.append((webhook_id, Item(old.event_id, old.body, "duplicate")))
                if done:
                    queued[webhook_id] = len(done)
        self._enqueue(items)
        return Enqueued(list(dict.fromkeys(item.event_id for _, item in items)), queued)

    def _enqueue(self, items: list[tuple[int, Item]]) -> None:
        if not items:
            return
        touched: set[int] = set()
        with self._lock:
            for webhook_id, item in items:
                lane = self._lanes.setdefault(webhook_id, Lane(webhook_id))
                lane.queue.append(item)
                touched.add(webhook_id)
                if item.mode in PROBES:
                    self.log.count(webhook_id, pending=1)
                else:
                    self.log.count(webhook_id, queued=1, pending=1)
        assert self._loop is not None
        for webhook_id in touched:
            self._loop.call_soon_threadsafe(self._kick, webhook_id)

    # -- on the sender's loop ---------------------------------------------------------------

    def _kick(self, webhook_id: int) -> None:
        lane = self._lanes[webhook_id]
        if lane.wake is None:
            lane.wake = asyncio.Event()
        if lane.task is None:
            lane.task = asyncio.get_running_loop().create_task(self._run_lane(lane))
            lane.task.add_done_callback(self._lane_done)
        lane.wake.set()

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    def _wake_retries(self) -> None:
        if self._retry_now is not None:
            self._retry_now.set()  # wakes every waiter; clearing at once re-arms it
            self._retry_now.clear()

    async def _run_lane(self, lane: Lane) -> None:
        assert lane.wake is not None
        while True:
            with self._lock:
                item = lane.queue[0] if lane.queue else None
            if item is None:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            try:
                hook = self._store.get(lane.webhook_id)
                key = self._store.signing_key(lane.webhook_id)
            except UnknownWebhook:
                hook, key = None, ""
            if hook is None or hook["disabled"]:
                self._drop_all(lane)  # deleted or disabled: Customer.io stops sending to it
                continue
            await self._attempt(lane, item, str(hook["endpoint"]), key)

    async def _attempt(self, lane: Lane, item: Item, url: str, key: str) -> None:
        assert self._client is not None
        policy = self.policy
        item.attempts += 1
        if item.first_try is None:
            item.first_try = time.monotonic()
        # The spec: X-CIO-Timestamp is "the timestamp when the request was sent", so every
        # retry carries a fresh one (and a fresh signature).
        timestamp = int(time.time() - item.stale_by_s)
        headers = headers_for(item.body, key, timestamp, signed=item.mode != "unsigned",
                              forged=item.mode == "bad_signature")
        result = await post_once(self._client, url, item.body, headers, policy.timeout_s,
                                 timestamp)
        webhook_id = lane.webhook_id
        retry_in: float | None = None
        finished = result.ok or item.mode in PROBES
        if not finished:
            retry_in = policy.real(policy.delay(item.attempts, result.hour_class))
            window = policy.real(policy.give_up_after_s)
            if time.monotonic() + retry_in - item.first_try > window:
                retry_in, finished = None, True  # "or the seven day retry period expires"
        self.log.add(DeliveryAttempt(
            event_id=item.event_id, webhook_id=webhook_id, attempt=item.attempts,
            status=result.status, error=result.error, ok=result.ok, latency_s=result.latency_s,
            time=result.sent_at, timestamp=result.timestamp, mode=item.mode,
            next_retry_s=retry_in,
        ))
        self.log.count(webhook_id, retries=int(item.attempts > 1),
                       failed_attempts=int(not result.ok))
        self.log.note(webhook_id, last_status=result.status, last_error=result.error,
                      blocked=not finished)
        if finished:
            with self._lock:
                lane.queue.popleft()
                if result.ok and item.mode not in PROBES:
                    lane.delivered.append(item)
            outcome = ("probes" if item.mode in PROBES
                       else "delivered" if result.ok else "given_up")
            self.log.count(webhook_id, pending=-1, **{outcome: 1})
            return
        assert retry_in is not None
        await self._pause(retry_in)

    async def _pause(self, seconds: float) -> None:
        assert self._retry_now is not None
        try:
            async with asyncio.timeout(seconds):
                await self._retry_now.wait()
        except TimeoutError:
            pass

    def _drop_all(self, lane: Lane) -> None:
        with self._lock:
            dropped = len(lane.queue)
            lane.queue.clear()
        self.log.count(lane.webhook_id, pending=-dropped, dropped=dropped)
        self.log.note(lane.webhook_id, blocked=False)

    async def _start_stream(
        self, rate: float, duration: float | None, count: int | None, webhook_id: int | None,
    ) -> None:
        self._stream_task = asyncio.get_running_loop().create_task(
            self._stream(rate, duration, count, webhook_id))

    async def _cancel_stream(self) -> None:
        task, self._stream_task = self._stream_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _stream(
        self, rate: float, duration: float | None, count: int | None, webhook_id: int | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        drawn = 0
        try:
            while True:
                elapsed = loop.time() - started
                if (duration is not None and elapsed >= duration) or (
                        count is not None and drawn >= count):
                    return
                due = int(elapsed * rate) + 1
                if count is not None:
                    due = min(due, count)
                if due > drawn:
                    batch = self.next_events(due - drawn)
                    drawn = due
                    targets = [t for t in self._store.deliverable()
                               if webhook_id is None or t.webhook["id"] == webhook_id]
                    self._dispatch(batch, targets, "normal")
                await asyncio.sleep(max(0.0, drawn / rate - (loop.time() - started)))
        finally:
            if self._stream_task is asyncio.current_task():
                self._stream_active.clear()


def _wants(hook: Mapping[str, Any], event: ReportingEvent) -> bool:
    """Subscribed by name, and repeats only with "Send Frequency: every time" (full_resolution)."""
    return event.subscription in hook["events"] and (
        bool(hook["full_resolution"]) or not event.repeat)
