"""Alert channels: add, list (masked), remove and test; the CLI and the web app share these."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from cio_warehouse.alerts import channels
from cio_warehouse.alerts.notice import RESOLVED, Notice
from cio_warehouse.alerts.send import Outcome, send
from cio_warehouse.ops.errors import OpsError, Refusal
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.state.alert_store import AlertStore, StoredChannel

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ChannelView:
    """A channel as people see it: never its URL or password."""

    name: str
    kind: str
    shown: str
    failures: int
    last_error: str | None
    retry_at: float | None

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def sentence(self, now: float | None = None) -> str:
        """One line for `status` and `alert list`: why it fails and when it is tried again."""
        if not self.failing:
            return f"Alert channel {self.name} ({self.kind}): ok."
        wait = max(0.0, (self.retry_at or 0.0) - (now if now is not None else time.time()))
        return (f"Alert channel {self.name} ({self.kind}) is failing: {self.failures} "
                f"attempt{'s' if self.failures != 1 else ''} in a row, next in {wait:.0f} s; "
                f"{self.last_error}")

    @classmethod
    def of(cls, stored: StoredChannel) -> ChannelView:
        return cls(stored.name, stored.kind, stored.shown, stored.failures, stored.last_error,
                   stored.retry_at)


def add_channel(
    store: StateStore, name: str, *, slack: str | None = None, webhook: str | None = None,
    email: str | None = None, smtp_url: str | None = None, smtp_password: str | None = None,
) -> ChannelView:
    """A new channel: exactly one of `slack`, `webhook` or `email` (with `smtp_url`)."""
    if not _NAME.match(name):
        raise OpsError(
            f"Alert channel names are 1 to 64 letters, digits, '.', '_' or '-'; got {name!r}.",
            "name",
        )
    given = [k for k, v in (("slack", slack), ("webhook", webhook), ("email", email)) if v]
    if len(given) != 1:
        raise OpsError("Give exactly one of a Slack URL (--slack), a webhook URL (--webhook) "
                       "or an email address (--email).", "kind")
    kind = given[0]
    if kind == "email":
        assert email is not None
        if not smtp_url:
            raise OpsError("An email channel needs its SMTP server, as a URL like "
                           "smtp://user@host:587 (--smtp-url or $CIO_WAREHOUSE_SMTP_URL).",
                           "smtp_url")
        target = channels.email_target(email, smtp_url, smtp_password)
        secret, shown = target.to_secret(), channels.shown_email(target)
    else:
        url = channels.webhook_url(slack or webhook or "", slack=kind == "slack")
        secret, shown = Secret(url), channels.shown_url(url)
    alerts = AlertStore(store)
    if name in {c.name for c in alerts.channels()}:
        raise OpsError(
            f"An alert channel named {name!r} already exists; pick another name or remove it "
            f"first with `cio-warehouse alert remove {name}`.", "name", Refusal.CONFLICT,
        )
    alerts.add_channel(name, kind, secret, shown)
    return ChannelView.of(alerts.channel(name))


def list_channels(store: StateStore) -> list[ChannelView]:
    return [ChannelView.of(c) for c in AlertStore(store).channels()]


def failing_channels(store: StateStore) -> list[ChannelView]:
    return [c for c in list_channels(store) if c.failing]


def remove_channel(store: StateStore, name: str) -> None:
    alerts = AlertStore(store)
    if name not in {c.name for c in alerts.channels()}:
        raise OpsError(f"No alert channel named {name!r}.", "name", Refusal.NOT_FOUND)
    alerts.remove_channel(name)


def send_test(store: StateStore, name: str) -> Outcome:
    """Send a test message now (blocking: the web app runs it in a thread). Its state is
    "resolved", so that a receiver that pages on "firing" does not page anyone."""
    alerts = AlertStore(store)
    if name not in {c.name for c in alerts.channels()}:
        raise OpsError(f"No alert channel named {name!r}.", "name", Refusal.NOT_FOUND)
    channel = alerts.channel(name)
    notice = Notice(None, None, "test", RESOLVED,
                    f"A test message from cio-warehouse: alert channel {name} works.", time.time())
    return send(channel.kind, channel.target, notice)
