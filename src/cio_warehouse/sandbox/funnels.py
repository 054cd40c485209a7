"""Per-channel funnels: which metrics one delivery goes through, and when (offsets in ms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from cio_warehouse.sandbox.event_catalog import PREFERENCES_CHANGED
from cio_warehouse.sandbox.rng import RowRandom

_S = 1_000
_MIN = 60 * _S
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR


class Step(NamedTuple):
    at_ms: int  # after the delivery started
    metric: str
    # A customer event (subscribed, unsubscribed, preferences changed) that this message
    # triggered: its object_type is the channel (customer_event_common.object_type).
    customer: bool = False
    # Not the first time this metric happened for the delivery: sent only to webhooks whose
    # "Send Frequency" (full_resolution) asks for every occurrence.
    repeat: bool = False
    note: str = ""  # "prefetched", "synthetic", "machine" or "stop": shapes the payload


class _Plan:
    def __init__(self, r: RowRandom) -> None:
        self.r = r
        self.steps: list[Step] = []

    def per_mille(self, n: int) -> bool:
        return self.r.below(1000) < n

    def add(
        self, at_ms: int, metric: str, *, customer: bool = False, repeat: bool = False,
        note: str = "",
    ) -> int:
        self.steps.append(Step(at_ms, metric, customer, repeat, note))
        return at_ms

    def later(self, low_ms: int, high_ms: int) -> int:
        return self.r.between(low_ms, high_ms)

    def engagement(self) -> int:
        """How long until a person acts on a message: mostly minutes, sometimes hours, and now
        and then days: opens, clicks and conversions keep arriving for days (customerio-api.md,
        Message history), so a re-read of history days later finds new metrics."""
        bucket = self.r.below(100)
        if bucket < 48:
            return self.later(30 * _S, 10 * _MIN)
        if bucket < 77:
            return self.later(10 * _MIN, 2 * _HOUR)
        if bucket < 95:
            return self.later(2 * _HOUR, 12 * _HOUR)
        return self.later(1 * _DAY, 5 * _DAY)

    def start(self, drafted: int, attempted: int) -> int:
        """Optional drafted (queued drafts) and attempted (a retried send); the send time."""
        t = 0
        if self.per_mille(drafted):
            self.add(t, "drafted")
            t += self.later(1 * _MIN, 30 * _MIN)
        if self.per_mille(attempted):
            self.add(t, "attempted")
            t += self.later(1 * _MIN, 10 * _MIN)
        return t

    def terminal(self, t: int, *outcomes: tuple[str, int]) -> bool:
        """At most one of `outcomes` (metric, per mille) instead of sending: True if one hit."""
        ticket = self.r.below(1000)
        for metric, per_mille in outcomes:
            if ticket < per_mille:
                self.add(t, metric)
                return True
            ticket -= per_mille
        return False

    def repeats(self, t: int, metric: str, per_mille: int, most: int) -> None:
        if self.per_mille(per_mille):
            for _ in range(self.r.between(1, most)):
                t += self.engagement()
                self.add(t, metric, repeat=True)

    def done(self) -> list[Step]:
        return sorted(self.steps, key=lambda step: step.at_ms)


def email(r: RowRandom) -> list[Step]:
    p = _Plan(r)
    t = p.start(drafted=15, attempted=30)
    # failed: not handed to the provider; undeliverable: message limits, cancelled newsletters;
    # dropped: the address is suppressed (metric descriptions in the spec).
    if p.terminal(t, ("failed", 10), ("undeliverable", 8), ("dropped", 12)):
        return p.done()
    p.add(t, "sent")
    outcome = r.below(1000)
    if outcome < 25:
        p.add(t + p.later(2 * _S, 2 * _MIN), "bounced")
        return p.done()
    if outcome < 30:
        return p.done()  # no delivery report (yet)
    delivered = p.add(t + p.later(1 * _S, 20 * _S), "delivered")
    if p.per_mille(2):
        p.add(delivered + p.engagement(), "spammed")
        return p.done()
    if p.per_mille(450):
        if p.per_mille(120):
            # Apple Mail Privacy Protection and Gmail fetch images at once, through a proxy.
            opened = p.add(delivered + p.later(1 * _S, 60 * _S), "opened", note="prefetched")
        else:
            opened = p.add(delivered + p.engagement(), "opened")
        p.repeats(opened, "opened", 300, 3)
        if p.per_mille(250):
            clicked = p.add(opened + p.later(5 * _S, 10 * _MIN), "clicked",
                            note="machine" if p.per_mille(40) else "")
            p.repeats(clicked, "clicked", 150, 2)
            if p.per_mille(120):
                p.add(clicked + p.later(1 * _MIN, 6 * _HOUR), "converted")
        if p.per_mille(15):
            # An unsubscribe link: the email metric and the customer event, triggered by email.
            left = p.add(opened + p.later(10 * _S, 5 * _MIN), "unsubscribed")
            p.add(left, "unsubscribed", customer=True)
        elif p.per_mille(10):
            p.add(opened + p.later(10 * _S, 5 * _MIN), PREFERENCES_CHANGED, customer=True)
    elif p.per_mille(20):
        # A click with no open on record: Customer.io infers a `synthetic` open at that time.
        clicked = delivered + p.engagement()
        p.add(clicked, "opened", note="synthetic")
        p.add(clicked, "clicked")
    elif p.per_mille(10):
        p.add(delivered + p.later(1 * _HOUR, 24 * _HOUR), "converted")
    return p.done()


def push(r: RowRandom) -> list[Step]:
    p = _Plan(r)
    t = p.start(drafted=10, attempted=20)
    if p.terminal(t, ("failed", 15), ("undeliverable", 5), ("dropped", 10)):
        return p.done()
    p.add(t, "sent")
    outcome = r.below(1000)
    if outcome < 40:
        p.add(t + p.later(1 * _S, 30 * _S), "bounced")  # an invalid device token
        return p.done()
    if outcome < 80:
        return p.done()
    delivered = p.add(t + p.later(1 * _S, 10 * _S), "delivered")
    if p.per_mille(100):
        opened = p.add(delivered + p.engagement(), "opened")
        p.repeats(opened, "opened", 50, 1)
        if p.per_mille(350):
            p.add(opened + p.later(1 * _S, 30 * _S), "clicked")
        if p.per_mille(60):
            p.add(opened + p.later(1 * _MIN, 6 * _HOUR), "converted")
    return p.done()


def _texting(r: RowRandom, whatsapp: bool) -> list[Step]:
    p = _Plan(r)
    t = p.start(drafted=10, attempted=20)
    outcomes = [("failed", 15), ("undeliverable", 7)]
    if whatsapp:
        outcomes.append(("dropped", 10))  # whatsapp_dropped exists; sms has no dropped schema
    if p.terminal(t, *outcomes):
        return p.done()
    p.add(t, "sent")
    outcome = r.below(1000)
    if outcome < 30:
        p.add(t + p.later(1 * _S, 60 * _S), "bounced")
        return p.done()
    if outcome < 60:
        return p.done()
    delivered = p.add(t + p.later(1 * _S, 15 * _S), "delivered")
    seen = delivered
    if whatsapp and p.per_mille(700):
        seen = p.add(delivered + p.later(10 * _S, 2 * _HOUR), "opened")  # read receipts
    if p.per_mille(80):
        clicked = p.add(seen + p.engagement(), "clicked")
        p.repeats(clicked, "clicked", 100, 2)
    if p.per_mille(30):
        p.add(seen + p.later(1 * _HOUR, 24 * _HOUR), "converted")
    if p.per_mille(25):
        # Replies are reported only when attributed to a delivery within 72 hours (spec).
        reply = p.add(seen + p.later(1 * _MIN, 6 * _HOUR), "replied")
        if p.per_mille(300):
            p.add(reply, "unsubscribed", customer=True, note="stop")  # "STOP"
    return p.done()


def sms(r: RowRandom) -> list[Step]:
    return _texting(r, whatsapp=False)


def whatsapp(r: RowRandom) -> list[Step]:
    return _texting(r, whatsapp=True)


def in_app(r: RowRandom) -> list[Step]:
    p = _Plan(r)
    t = p.start(drafted=10, attempted=10)
    if p.terminal(t, ("failed", 10), ("undeliverable", 15)):
        return p.done()
    p.add(t, "sent")
    # "opened" is an impression: the person saw the message when they next used the app.
    if p.per_mille(550):
        opened = p.add(t + p.engagement(), "opened")
        p.repeats(opened, "opened", 100, 2)
        if p.per_mille(250):
            clicked = p.add(opened + p.later(1 * _S, 60 * _S), "clicked")
            if p.per_mille(200):
                p.add(clicked + p.later(1 * _MIN, 2 * _HOUR), "converted")
    return p.done()


def slack(r: RowRandom) -> list[Step]:
    # No slack_undeliverable here: the spec defines it but no webhook can subscribe to it.
    p = _Plan(r)
    t = p.start(drafted=10, attempted=10)
    if p.terminal(t, ("failed", 20)):
        return p.done()
    p.add(t, "sent")
    if p.per_mille(40):
        p.add(t + p.engagement(), "clicked")
    return p.done()


def webhook(r: RowRandom) -> list[Step]:
    p = _Plan(r)
    t = p.start(drafted=5, attempted=40)  # the target endpoint failed once, then was retried
    if p.terminal(t, ("failed", 30), ("undeliverable", 5)):
        return p.done()
    p.add(t, "sent")
    if p.per_mille(10):
        p.add(t + p.engagement(), "clicked")
    return p.done()


FUNNELS: dict[str, Callable[[RowRandom], list[Step]]] = {
    "email": email, "push": push, "sms": sms, "whatsapp": whatsapp, "in_app": in_app,
    "slack": slack, "webhook": webhook,
}
