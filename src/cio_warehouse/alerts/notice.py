"""One alert message: an incident that starts firing or resolves, in each channel's shape."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

FIRING = "firing"
RESOLVED = "resolved"

# What each kind of incident is, for titles.
KINDS = {
    "sync_failed": "sync failed",
    "stale": "data is stale",
    "rejected": "webhook deliveries rejected",
    "dropped": "webhook deliveries dropped",
    "silent": "no webhook deliveries",
    "dead_letters": "dead letters",
    "backlog": "inbox backlog growing",
    "missed": "webhook missed deliveries",
    "test": "test message",
}

# A URL's user:password@, whoever wrote it into an error message.
_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")


@dataclass(frozen=True)
class Notice:
    source: str | None
    table: str | None
    kind: str
    state: str  # firing | resolved
    message: str
    at: float

    @property
    def subject(self) -> str:
        where = ".".join(p for p in (self.source, self.table) if p) or "cio-warehouse"
        return f"[{self.state.upper()}] {where}: {KINDS.get(self.kind, self.kind)}"

    def to_json(self) -> dict[str, Any]:
        """The generic webhook's body, and the outbox's record."""
        return {**asdict(self), "at": datetime.fromtimestamp(self.at, UTC).isoformat()}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Notice:
        at = datetime.fromisoformat(str(body["at"])).timestamp()
        return cls(body["source"], body["table"], body["kind"], body["state"], body["message"], at)

    def slack(self) -> dict[str, Any]:
        """An incoming webhook's body: one readable message (mrkdwn)."""
        icon = ":red_circle:" if self.state == FIRING else ":large_green_circle:"
        return {"text": f"{icon} *{_slack_escaped(self.subject)}*\n"
                        f"{_slack_escaped(self.message)}\n_{self._when()}_"}

    def email_body(self) -> str:
        return f"{self.message}\n\n{self.state} since {self._when()}\n-- cio-warehouse\n"

    def _when(self) -> str:
        return datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _slack_escaped(text: str) -> str:
    """Slack reads <...> as links and mentions: its docs ask for &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scrubbed(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in it, and any URL password, replaced by ***: a message goes to
    chat rooms and inboxes, and must hold no key or password whatever an error message said."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _CREDENTIALS.sub("***@", text)
