"""What fires, per source: each check reads one fact and says firing, resolved, or unknown.

Unknown (None) keeps an incident as it is: a table being synced has neither failed nor
recovered yet, and a backlog seen for less than its window is not yet growing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cio_warehouse import catalog
from cio_warehouse.frequencies import frequency_label, table_frequencies
from cio_warehouse.state import RunRecord, SourceConfig
from cio_warehouse.webhooks.health import REJECTION_STREAK, DeliveryCounters
from cio_warehouse.webhooks.inbox import Health

# No delivery for a day while the webhook is enabled: Customer.io reports every message sent,
# and a workspace that sends anything sends daily; a shorter limit would fire on quiet nights.
SILENCE_SECONDS = 24 * 3600
# A dead letters incident resolves after an hour without a new one (they are counted, never
# cleared: each new one is news, the old ones are in webhook_dead_letters).
DEAD_LETTER_QUIET_SECONDS = 3600


@dataclass(frozen=True)
class Finding:
    source: str
    table: str  # "" when the incident is not about one table
    kind: str
    firing: bool | None  # None: unknown, keep the incident as it is
    message: str = ""
    mark: int | None = None  # a counting check's count, kept with the incident


def table_findings(
    source: SourceConfig, last: dict[str, RunRecord], successes: dict[str, RunRecord | None],
    now: float,
) -> list[Finding]:
    """Per scheduled table: its last sync failed; no success for twice its frequency."""
    found: list[Finding] = []
    for table, interval in table_frequencies(source).items():
        where = f"{source.name}.{table}"
        run = last.get(table)
        if run is None or run.status == "running":
            found.append(Finding(source.name, table, "sync_failed", None))
        elif run.status == "failed":
            found.append(Finding(source.name, table, "sync_failed", True,
                                 f"The last sync of {where} failed: {run.error}"))
        elif run.status == "succeeded":
            found.append(Finding(source.name, table, "sync_failed", False,
                                 f"{where} synced again ({run.rows} rows)."))
        good = successes.get(table)
        since = good.ended_at or good.started_at if good else source.created_at
        stale = now - since > 2 * interval
        found.append(Finding(
            source.name, table, "stale", stale,
            f"{where} has had no successful sync for {_hours(now - since)} (it syncs every "
            f"{frequency_label(interval)}): see why with `cio-warehouse status {source.name}`."
            if stale else f"{where} is fresh again.",
        ))
    return found


def uses_webhook(source: SourceConfig) -> bool:
    return any(catalog.BY_NAME[t].sync_method is catalog.SyncMethod.WEBHOOK
               for t in source.tables if t in catalog.BY_NAME)


def delivery_findings(
    source: SourceConfig, health: Health, now: float, *, dead_letter_mark: int | None,
    dead_letter_since: float | None, silence_seconds: float = SILENCE_SECONDS,
) -> list[Finding]:
    """Rejected, dropped, silent and dead-lettered deliveries of the source's webhook."""
    name = source.name
    counters = DeliveryCounters.of(health.counters)
    found: list[Finding] = []
    streak = health.consecutive_rejections
    found.append(Finding(
        name, "", "rejected",
        True if streak >= REJECTION_STREAK else False if streak == 0 else None,
        f"The last {streak} webhook deliveries for {name} were rejected "
        f"({health.last_rejection}); Customer.io holds later events back until one is accepted."
        f" Most likely the signing key is wrong: copy it again from Customer.io and run "
        f"`cio-warehouse webhook signing-key {name}`."
        if streak else f"Webhook deliveries for {name} are accepted again.",
    ))
    dropping = source.signing_key is None and counters.dropped > 0
    found.append(Finding(
        name, "", "dropped", dropping,
        f"{counters.dropped} webhook deliveries for {name} were dropped because no signing key "
        f"is stored: copy it from Customer.io and run `cio-warehouse webhook signing-key {name}`."
        if dropping else f"A signing key is stored for {name}: deliveries are kept again.",
    ))
    enabled = source.settings.webhook_registered and source.signing_key is not None
    last = health.last_delivery_at
    silent = enabled and last is not None and now - last > silence_seconds
    found.append(Finding(
        name, "", "silent", None if enabled and last is None else silent,
        f"No webhook delivery for {name} for {_hours(now - (last or now))}, while its webhook "
        f"is enabled: check it with `cio-warehouse webhook status {name}` (is the receiver "
        "reachable at the URL Customer.io has?)."
        if silent else f"Webhook deliveries for {name} arrive again.",
    ))
    count = counters.dead_letters
    if dead_letter_mark is None or count < dead_letter_mark:
        # First look (or a new inbox): what is there already is the baseline, not news.
        found.append(Finding(name, "", "dead_letters", False, "", count))
    elif count > dead_letter_mark:
        found.append(Finding(
            name, "", "dead_letters", True,
            f"{count - dead_letter_mark} new webhook deliveries for {name} were not usable "
            f"events (not JSON, or no event_id); they are kept in {name}.webhook_dead_letters.",
            count,
        ))
    elif dead_letter_since is not None and now - dead_letter_since > DEAD_LETTER_QUIET_SECONDS:
        found.append(Finding(name, "", "dead_letters", False,
                             f"No new dead letters for {name} for an hour.", count))
    return found


def backlog_finding(source: str, samples: Sequence[tuple[float, int]], window: float,
                    now: float) -> Finding:
    """Growing: over samples (time, backlog) that start at least `window` seconds ago (the
    caller drops older ones), never below where they started and higher at the end. Unknown
    until the samples span the window."""
    if not samples or now - samples[0][0] < window:
        return Finding(source, "", "backlog", None)
    first, latest = samples[0][1], samples[-1][1]
    growing = latest > first and min(n for _, n in samples) >= first
    return Finding(
        source, "", "backlog", growing,
        f"The webhook inbox backlog of {source} grew from {first} to {latest} events in "
        f"{window / 60:.0f} minutes: the event loader is not keeping up or is failing; see "
        f"`cio-warehouse status {source}`." if growing
        else f"The webhook inbox backlog of {source} is going down ({latest} events).",
    )


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours >= 2 else f"{seconds / 60:.0f} minutes"
