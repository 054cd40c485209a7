"""A source's optional settings, typed, stored as the JSON object they always were."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

_INTS = ("max_rps", "max_attempts", "page_limit", "webhook_id", "history_days", "lookback_days")
_FLOATS = ("max_retry_seconds", "connect_timeout", "read_timeout", "paused_at")
_TEXTS = ("webhook_url", "public_base_url")
# Message history: how far back its first sync reaches, and how much of what was read each later
# sync reads again (opens, clicks and conversions arrive days after the send).
DEFAULT_HISTORY_DAYS = 30
DEFAULT_LOOKBACK_DAYS = 7
# The fields of customerio.ClientSettings a source may override.
CLIENT_OVERRIDES = ("max_rps", "max_attempts", "max_retry_seconds", "connect_timeout",
                    "read_timeout", "page_limit")


@dataclass(frozen=True)
class SourceSettings:
    # App API client overrides; None: the client's default. max_rps 0 means unpaced.
    max_rps: int | None = None
    max_attempts: int | None = None
    max_retry_seconds: float | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    page_limit: int | None = None
    # The reporting webhook, once registered (webhook_links.register), and the URL it was for.
    webhook_id: int | None = None
    webhook_url: str | None = None
    public_base_url: str | None = None
    # Message history (None: the defaults above).
    history_days: int | None = None
    lookback_days: int | None = None
    # {table: seconds}: tables that sync at their own frequency rather than their source's.
    table_frequencies: Mapping[str, int] = field(default_factory=dict)
    # When the source was paused (unix seconds); None: running. Paused, nothing syncs or loads,
    # while its webhook deliveries are still acknowledged and kept in the inbox.
    paused_at: float | None = None
    # Created by the web app's wizard and not imported yet: nothing schedules it, and cancelling
    # the wizard removes it with its webhook. None: a source like any other.
    draft: bool | None = None
    # What this version does not know, or cannot use, kept as stored so that a save loses nothing.
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def webhook_registered(self) -> bool:
        return self.webhook_id is not None

    @classmethod
    def from_json(cls, raw: object) -> SourceSettings:
        """Settings as stored. They are JSON a user may have edited: a value of the wrong type
        means "not set" (and stays in `extra`), never an error that makes the source unusable."""
        if not isinstance(raw, Mapping):
            return cls()
        known: dict[str, Any] = {}
        extra: dict[str, object] = {}
        for key, value in raw.items():
            usable = _usable(str(key), value)
            if usable is None:
                extra[str(key)] = value
            else:
                known[str(key)] = usable
        return cls(**known, extra=extra)

    def to_json(self) -> dict[str, object]:
        """The JSON object to store: the settings that are set, then the unknown ones."""
        stored: dict[str, object] = dict(self.extra)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None and value != {}:
                stored[f.name] = dict(value) if isinstance(value, Mapping) else value
        return stored

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def scheduled(self) -> bool:
        """Whether the scheduler syncs the source: not while paused or a draft."""
        return not (self.paused or self.draft)

    @property
    def history_window_days(self) -> int:
        return self.history_days if self.history_days is not None else DEFAULT_HISTORY_DAYS

    @property
    def lookback_window_days(self) -> int:
        return self.lookback_days if self.lookback_days is not None else DEFAULT_LOOKBACK_DAYS

    def client_overrides(self) -> dict[str, Any]:
        """The customerio.ClientSettings fields this source sets (max_rps 0: unpaced, None)."""
        overrides = {k: getattr(self, k) for k in CLIENT_OVERRIDES if getattr(self, k) is not None}
        if overrides.get("max_rps") == 0:
            overrides["max_rps"] = None
        return overrides

    def with_table_frequencies(self, overrides: Mapping[str, int]) -> SourceSettings:
        return replace(self, table_frequencies=dict(overrides))


def _usable(key: str, value: object) -> object | None:
    """The value typed for its key, or None when the key is unknown or the value unusable."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key in _INTS:
        return value if number and isinstance(value, int) else None
    if key in _FLOATS:
        return float(value) if number else None  # type: ignore[arg-type]
    if key in _TEXTS:
        return value if isinstance(value, str) else None
    if key == "draft":
        return True if value is True else None
    if key == "table_frequencies" and isinstance(value, Mapping):
        # An unusable value means "no override" (it follows the source), as it always has.
        return {
            str(t): s for t, s in value.items()
            if isinstance(s, int) and not isinstance(s, bool) and s > 0
        }
    return None
