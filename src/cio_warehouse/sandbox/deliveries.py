"""Reporting-webhook events: one of any kind on demand, or a realistic, seeded stream of them."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson

from cio_warehouse.sandbox.event_catalog import (
    CUSTOMER_METRICS,
    CUSTOMER_OBJECT_TYPES,
    MESSAGE_METRICS,
    PREFERENCES_CHANGED,
    PREFERENCES_ORIGINS,
    OriginKind,
    subscription_name,
)
from cio_warehouse.sandbox.event_ids import ulid
from cio_warehouse.sandbox.funnels import FUNNELS, Step
from cio_warehouse.sandbox.messages import Message, make_message
from cio_warehouse.sandbox.origins import Origins
from cio_warehouse.sandbox.payloads import customer_data, message_data
from cio_warehouse.sandbox.people import People, Person
from cio_warehouse.sandbox.rng import RowRandom, mix64, stable_key
from cio_warehouse.sandbox.workspace import Workspace

# 2024-06-01T00:00:00Z: after every generated workspace row (those are 2019-2023), fixed so that
# a seed alone decides every event.
DEFAULT_START = 1_717_200_000
# Delivery n starts in [EPOCH + n * gap, EPOCH + (n + 1) * gap): a function of n alone, so that a
# history page is index arithmetic and every sandbox with one seed and gap numbers them alike.
# 2015-01-01T00:00:00Z: before any start a test or a sandbox uses; nothing is delivered earlier.
EPOCH_MS = 1_420_070_400_000
# New deliveries per channel, per 1000 (email dominates real workspaces); "customer" stands for
# subscription changes that no message triggered.
CHANNEL_MIX: Mapping[str, int] = {
    "email": 620, "push": 120, "sms": 80, "in_app": 70, "whatsapp": 40, "webhook": 30,
    "slack": 20, "customer": 20,
}
_ID_SALT = 0x1D5A17
_JITTER_SALT = 0x7177E5
_MESSAGE_SALT = 0x5EED


@dataclass(frozen=True)
class ReportingEvent:
    """One event as Customer.io POSTs it; `content` holds the with_content-only data fields."""

    payload: dict[str, Any]
    content: dict[str, Any] = field(default_factory=dict)
    # The name in a webhook's `events` that makes it receive this event.
    subscription: str = ""
    # A later occurrence of the same metric for the same delivery: only webhooks with
    # full_resolution ("every time they happen") receive it.
    repeat: bool = False

    @property
    def event_id(self) -> str:
        return str(self.payload["event_id"])

    @property
    def object_type(self) -> str:
        return str(self.payload["object_type"])

    @property
    def metric(self) -> str:
        return str(self.payload["metric"])

    @property
    def timestamp(self) -> int:
        return int(self.payload["timestamp"])

    @property
    def delivery_id(self) -> str | None:
        """`data.delivery_id`: the `id` of the delivery's row in `/v1/messages`; None for
        subscription changes that no message triggered."""
        value = self.payload["data"].get("delivery_id")
        return None if value is None else str(value)

    def body(self, with_content: bool) -> dict[str, Any]:
        """The JSON object a webhook with (or without) the Body Content option receives."""
        if not with_content or not self.content:
            return self.payload
        data = dict(sorted({**self.payload["data"], **self.content}.items()))
        return {**self.payload, "data": data}

    def to_bytes(self, with_content: bool) -> bytes:
        return orjson.dumps(self.body(with_content))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ReportingEvent:
        """Wrap any event object (e.g. a published example) so that the sender can route it."""
        body = dict(payload)
        object_type, metric = str(body.get("object_type")), str(body.get("metric"))
        data = body.get("data")
        customer = metric in CUSTOMER_METRICS and (
            object_type == "customer" or metric != "unsubscribed"
            or not (isinstance(data, dict) and "delivery_id" in data)
        )
        name = subscription_name(object_type, metric, customer_event=customer)
        return cls(body, {}, name)


@dataclass
class _Delivery:
    """A planned delivery: its steps now, its message only when an event is built."""

    key: int
    object_type: str  # a channel, or "customer" for changes no message triggered
    origin_kind: OriginKind | None
    started_ms: int
    steps: list[Step]
    message: Message | None = None
    person: Person | None = None

    @property
    def is_message(self) -> bool:
        """False for subscription changes that no message triggered (not in message history)."""
        return self.origin_kind is not None


class DeliveryGenerator:
    """Events for the workspace's own campaigns, broadcasts, newsletters and transactional
    messages, so that every id joins the App API tables. Deterministic by seed and `start`.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        start: int | None = None,
        seed: int | None = None,
        mean_gap_ms: int = 2_000,
        warmup_s: int = 3_600,
    ) -> None:
        if mean_gap_ms < 1 or warmup_s < 0:
            raise ValueError("mean_gap_ms must be positive and warmup_s not negative")
        self.seed = workspace.seed if seed is None else seed
        self.start = DEFAULT_START if start is None else start
        self.mean_gap_ms = mean_gap_ms
        self.warmup_s = warmup_s
        self.people = People(self.seed, int(workspace.info()["people"]))
        self.origins = Origins(workspace)
        self._topics = workspace.counts["subscription_topics"]
        self._salt = stable_key("cio-sandbox-deliveries", self.seed)

    # -- one event of a chosen kind -------------------------------------------------------

    def event(
        self,
        object_type: str,
        metric: str,
        *,
        origin: OriginKind | None = None,
        customer: bool | None = None,
        index: int = 0,
        at: int | None = None,
    ) -> ReportingEvent:
        """One event of `object_type` x `metric`, deterministic by its arguments.

        `customer` picks the customer event over the email metric for `unsubscribed` (inferred
        otherwise). `origin` chooses the parentage of message events and of preference changes.
        `index` varies the draws: opened events cycle through plain, prefetched and synthetic
        opens, clicked events alternate human and machine clicks.
        """
        is_customer = customer if customer is not None else (
            object_type == "customer" or metric not in MESSAGE_METRICS.get(object_type, ())
        )
        key = mix64(stable_key("cio-sandbox-event", self.seed, object_type, metric, origin,
                               is_customer) ^ index)
        r = RowRandom(key)
        at_ms = (self.start if at is None else at) * 1000 + r.below(1000)
        if is_customer:
            if object_type not in CUSTOMER_OBJECT_TYPES or metric not in CUSTOMER_METRICS:
                raise ValueError(f"no customer event {metric!r} with object_type {object_type!r}")
            channel = object_type if object_type in MESSAGE_METRICS else "email"
            kinds = PREFERENCES_ORIGINS if metric == PREFERENCES_CHANGED else None
            kind = None
            if kinds is not None:
                kind = origin or self.origins.choose_kind(r, channel, kinds)
            delivery = _Delivery(key, object_type if kind is None else channel, kind, at_ms, [])
            step = Step(0, metric, customer=True)
            if kind is not None:
                delivery.message = self._message(delivery, channel, r)
            return self._build(delivery, step, 0, at_ms, object_type_override=object_type)
        if metric not in MESSAGE_METRICS.get(object_type, ()):
            raise ValueError(f"the spec defines no {object_type!r} event {metric!r}")
        kind = origin or self.origins.choose_kind(r, object_type)
        if kind not in self.origins.kinds(object_type):
            raise ValueError(f"this workspace cannot send {object_type} from a {kind}")
        note = ""
        if metric == "opened" and object_type == "email":
            note = ("", "prefetched", "synthetic")[index % 3]
        elif metric == "clicked" and object_type == "email":
            note = ("", "machine")[index % 2]
        delivery = _Delivery(key, object_type, kind, at_ms, [])
        return self._build(delivery, Step(0, metric, note=note), 0, at_ms)

    def combinations(self) -> list[tuple[str, str, OriginKind | None]]:
        """Every (object_type, metric, origin) this workspace can produce with `event()`.

        Customer subscribed/unsubscribed take no origin; preference changes take one of the
        spec's three branches for each object_type; message events every origin their channel
        allows (transactional only for email and push: see event_catalog.SPEC_ORIGINS).
        """
        combos: list[tuple[str, str, OriginKind | None]] = []
        for object_type in CUSTOMER_OBJECT_TYPES:
            combos += [(object_type, "subscribed", None), (object_type, "unsubscribed", None)]
            channel = object_type if object_type in MESSAGE_METRICS else "email"
            combos += [(object_type, PREFERENCES_CHANGED, kind)
                       for kind in self.origins.kinds(channel, PREFERENCES_ORIGINS)]
        for channel, metrics in MESSAGE_METRICS.items():
            for metric in metrics:
                combos += [(channel, metric, kind) for kind in self.origins.kinds(channel)]
        return combos

    # -- a realistic stream ---------------------------------------------------------------

    def stream(self) -> Iterator[ReportingEvent]:
        """Endless events in timestamp order from `start` on, deliveries interleaved.

        Delivery n begins at `started_ms(n)`, one every `mean_gap_ms`; each follows its channel's
        funnel (funnels.py). The simulation starts `warmup_s` early so that opens and clicks of
        earlier deliveries are already flowing at `start`.
        """
        heap: list[tuple[int, int, int, _Delivery, Step]] = []
        start_ms = self.start * 1000
        number = self.first_index_at(start_ms - self.warmup_s * 1000)
        clock = self.started_ms(number)
        order = 0
        while True:
            # Delivery starts increase with n, and steps come at or after their start: every
            # event before `clock` (the next delivery's start) is already on the heap.
            while not heap or heap[0][0] >= clock:
                delivery = self.plan(number)
                number += 1
                for ordinal, step in enumerate(delivery.steps):
                    heapq.heappush(heap, (clock + step.at_ms, order, ordinal, delivery, step))
                    order += 1
                clock = self.started_ms(number)
            at_ms, _, ordinal, delivery, step = heapq.heappop(heap)
            if at_ms >= start_ms:
                yield self._build(delivery, step, ordinal, at_ms)

    def events(self, count: int) -> list[ReportingEvent]:
        """The first `count` events of `stream()`."""
        return list(islice(self.stream(), count))

    # -- deliveries by index -----------------------------------------------------------

    def started_ms(self, number: int) -> int:
        """When delivery `number` starts: its slot of the gap grid plus a jitter inside it."""
        jitter = mix64(self._salt ^ mix64(number ^ _JITTER_SALT)) % self.mean_gap_ms
        return EPOCH_MS + number * self.mean_gap_ms + jitter

    def first_index_at(self, at_ms: int) -> int:
        """The first delivery number that starts at or after `at_ms` (0 before the epoch)."""
        number = max(0, (at_ms - EPOCH_MS) // self.mean_gap_ms)
        return number if self.started_ms(number) >= at_ms else number + 1

    def plan(self, number: int) -> _Delivery:
        """Delivery `number`: channel, origin kind and funnel steps, all from its key alone."""
        return self._plan(number, self.started_ms(number))

    def message(self, delivery: _Delivery) -> Message:
        """The message of a planned delivery (the same one its events carry)."""
        if delivery.message is None:
            if delivery.origin_kind is None:
                raise ValueError("a subscription change with no message has no delivery id")
            delivery.message = self._message(
                delivery, delivery.object_type, RowRandom(mix64(delivery.key ^ _MESSAGE_SALT)))
        return delivery.message

    def step_draws(self, delivery: _Delivery, ordinal: int) -> RowRandom:
        """The draws of step `ordinal` of a delivery: its event's failure message comes first."""
        return RowRandom(mix64(delivery.key ^ mix64(_ID_SALT + ordinal)))

    # -- internals ------------------------------------------------------------------------

    def _plan(self, number: int, started_ms: int) -> _Delivery:
        key = mix64(self._salt ^ number)
        r = RowRandom(key)
        ticket = r.below(sum(CHANNEL_MIX.values()))
        channel = "customer"
        for name, weight in CHANNEL_MIX.items():
            if ticket < weight:
                channel = name
                break
            ticket -= weight
        if channel != "customer" and not self.origins.kinds(channel):
            channel = "customer"  # nothing in this workspace sends on that channel
        if channel == "customer":
            if r.chance(60):
                object_type = r.pick(("customer",) * 17 + ("email", "email", "sms"))
                return _Delivery(key, object_type, None, started_ms, [Step(0, "subscribed", True)])
            return _Delivery(key, "customer", None, started_ms, [Step(0, "unsubscribed", True)])
        kind = self.origins.choose_kind(r, channel)
        steps = FUNNELS[channel](r)
        if kind not in PREFERENCES_ORIGINS:
            # No subscription-center link in transactional messages; and the spec's preference
            # change needs a broadcast, campaign or newsletter branch.
            steps = [step for step in steps if step.metric != PREFERENCES_CHANGED]
        return _Delivery(key, channel, kind, started_ms, steps)

    def _message(self, delivery: _Delivery, channel: str, r: RowRandom) -> Message:
        assert delivery.origin_kind is not None
        person = self.people.pick(r, channel)
        origin = self.origins.pick(r, channel, delivery.origin_kind)
        return make_message(channel, person, origin, r, delivery.started_ms)

    def _build(
        self, delivery: _Delivery, step: Step, ordinal: int, at_ms: int,
        object_type_override: str | None = None,
    ) -> ReportingEvent:
        message = self.message(delivery) if delivery.origin_kind is not None else None
        if message is not None:
            person = message.person
        else:
            if delivery.person is None:
                delivery.person = self.people.person(
                    RowRandom(mix64(delivery.key ^ 0x9E0)).below(self.people.count))
            person = delivery.person
        # Draws per (delivery, step number): two events of one delivery never share an id.
        r = self.step_draws(delivery, ordinal)
        object_type = object_type_override or delivery.object_type
        if step.customer:
            with_delivery = message if step.metric == PREFERENCES_CHANGED else None
            data, content = customer_data(person, step.metric, with_delivery, self._topics, r)
        else:
            assert message is not None
            data, content = message_data(message, step, r)
        payload = {
            "metric": step.metric, "event_id": ulid(at_ms, r), "object_type": object_type,
            "timestamp": at_ms // 1000, "data": data,
        }
        name = subscription_name(object_type, step.metric, customer_event=step.customer)
        return ReportingEvent(payload, content, name, step.repeat)
