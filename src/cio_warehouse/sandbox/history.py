"""Message history (`GET /v1/messages`): the generator's deliveries as rows, by index arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.clock import SandboxClock
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.payloads import failure_message
from cio_warehouse.sandbox.rng import mix64

MESSAGES_PATH = "/v1/messages"
CURSOR_TABLE = "messages"
# customerio-api.md: "at most 6 months per request"; read as 183 days, strictly.
SIX_MONTHS_S = 183 * 86_400
FORGET_AFTER_S = 3 * 86_400
# The `type` of a row (and of the `type` filter) per channel: SMS goes out through Twilio.
TYPES: dict[str, str] = {
    "email": "email", "push": "push", "sms": "twilio", "whatsapp": "whatsapp", "slack": "slack",
    "webhook": "webhook", "in_app": "in_app",
}
CHANNEL_OF_TYPE: dict[str, str] = {kind: channel for channel, kind in TYPES.items()}
_FAILING = frozenset({"failed", "bounced", "dropped", "undeliverable"})
_FORGET_SALT = 0xF0E7
# A filtered page scans at most this many deliveries once it has a row, so that a rare filter
# answers a short page (with `next`) rather than walking the whole window in one request.
_SCAN_BUDGET = 10_000

Row = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """The filters of one request; None matches everything."""

    channel: str | None = None
    metric: str | None = None
    campaign_id: int | None = None
    newsletter_id: int | None = None
    action_id: int | None = None

    def matches(self, row: Row) -> bool:
        return (
            (self.metric is None or self.metric in row["metrics"])
            and (self.campaign_id is None or row["campaign_id"] == self.campaign_id)
            and (self.newsletter_id is None or row["newsletter_id"] == self.newsletter_id)
            and (self.action_id is None or row["action_id"] == self.action_id)
        )


EVERYTHING = Query()


class MessageHistory:
    """Deliveries `generator` starts from `history_start` (unix s) until the clock's now.

    Delivery n's row depends on n and now alone (its metrics are those whose time has come), so
    a page is a slice of indices and a cursor is an index: newest first, walking down.
    """

    def __init__(
        self, generator: DeliveryGenerator, clock: SandboxClock, history_start: int,
    ) -> None:
        self.generator = generator
        self.clock = clock
        self.history_start = history_start

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def bounds(self, start_ts: int, end_ts: int, now_ms: int) -> tuple[int, int]:
        """Delivery numbers [low, high) created in [start_ts, end_ts), in history, before now."""
        first = self.generator.first_index_at
        low = first(max(start_ts, self.history_start) * 1000)
        high = first(min(end_ts * 1000, now_ms))
        return low, max(low, high)

    def row(self, number: int, now_ms: int, query: Query = EVERYTHING) -> Row | None:
        """Delivery `number` as `/v1/messages` lists it at `now_ms`; None if it is no message
        (a subscription change) or `query` leaves it out."""
        gen = self.generator
        delivery = gen.plan(number)
        if not delivery.is_message:
            return None
        channel = delivery.object_type
        if query.channel is not None and channel != query.channel:
            return None
        message = gen.message(delivery)
        metrics: dict[str, int] = {}
        failure = None
        for ordinal, step in enumerate(delivery.steps):
            at_ms = delivery.started_ms + step.at_ms
            if step.customer or at_ms > now_ms:
                continue  # a customer event is no message metric; a future one has not happened
            metrics.setdefault(step.metric, at_ms // 1000)
            if step.metric in _FAILING:
                # The same draw as the event's data.failure_message (payloads.message_data).
                failure = failure_message(channel, step.metric, gen.step_draws(delivery, ordinal))
        created = delivery.started_ms // 1000
        # Our reading: a deterministic 2% are forgotten (a GDPR delete) 3 days after sending;
        # from then on the person's data is gone from the row, its ids and metrics stay.
        forgotten = (mix64(delivery.key ^ _FORGET_SALT) % 50 == 0
                     and now_ms >= (created + FORGET_AFTER_S) * 1000)
        origin = message.origin
        kind = origin.kind
        content_id = message.extra.get("content_id")
        # One template per campaign or broadcast action, per newsletter variant, per
        # transactional message: our reading of message_template_id.
        template = (origin.action_id if kind in ("campaign", "broadcast")
                    else content_id if kind == "newsletter" else origin.id)
        row: Row = {
            "id": message.delivery_id,
            "deduplicate_id": f"{message.delivery_id}:{created}",
            "message_template_id": template,
            "customer_id": message.person.customer_id,
            "customer_identifiers": None if forgotten else message.person.identifiers(),
            "recipient": None if forgotten else message.recipient,
            "subject": message.subject if channel == "email" and not forgotten else None,
            "metrics": metrics,
            "created": created,
            "failure_message": failure,
            "campaign_id": origin.id if kind == "campaign" else None,
            "action_id": origin.action_id if kind in ("campaign", "broadcast") else None,
            "parent_action_id": message.extra.get("parent_action_id"),
            "newsletter_id": origin.id if kind == "newsletter" else None,
            "content_id": content_id,
            "broadcast_id": origin.id if kind == "broadcast" else None,
            "type": TYPES[channel],
            "forgotten": forgotten,
        }
        return row if query.matches(row) else None

    def page(
        self, upper: int, low: int, limit: int, now_ms: int, query: Query = EVERYTHING,
    ) -> tuple[list[Row], int]:
        """Rows of deliveries below `upper` (exclusive) down to `low`, newest first, at most
        `limit`; and the `upper` of the next page (`low` when the walk is over)."""
        rows: list[Row] = []
        number = upper
        budget = _SCAN_BUDGET
        while number > low and len(rows) < limit and (budget > 0 or not rows):
            number -= 1
            budget -= 1
            row = self.row(number, now_ms, query)
            if row is not None:
                rows.append(row)
        return rows, number

    def walk(
        self, start_ts: int, end_ts: int, query: Query = EVERYTHING, now_ms: int | None = None,
    ) -> list[Row]:
        """Every row of a window, as paging through it from the first page would list them."""
        now = self.now_ms() if now_ms is None else now_ms
        low, upper = self.bounds(start_ts, end_ts, now)
        rows: list[Row] = []
        while upper > low:
            page, upper = self.page(upper, low, 1_000, now, query)
            rows += page
        return rows

