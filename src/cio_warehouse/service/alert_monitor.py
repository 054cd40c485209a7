"""The alert loop in `serve`: every tick, evaluate each source's checks, record what changed
(state store), and send what the outbox holds, each channel retried with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from cio_warehouse.alerts import checks
from cio_warehouse.alerts.channels import secrets_of
from cio_warehouse.alerts.notice import FIRING, RESOLVED, Notice, scrubbed
from cio_warehouse.alerts.send import send
from cio_warehouse.backoff import Backoff
from cio_warehouse.log_throttle import LogThrottle
from cio_warehouse.ops.metrics import register_collector, unregister_collector
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.state.alert_store import AlertStore, Incident
from cio_warehouse.warehouse import deliveries
from cio_warehouse.warehouse.missed import missed_by_webhook
from cio_warehouse.warehouse.readers import SqlCursor
from cio_warehouse.webhooks.inbox import Health, InboxBackend, InboxLocation

log = logging.getLogger(__name__)

TICK_SECONDS = 15.0
BACKLOG_WINDOW_SECONDS = 600.0
MISSED_EVERY_SECONDS = 600.0  # reading history against the webhook is a warehouse query
MISSED_DAYS = 7


class Cursors(Protocol):
    """The service's warehouse port (service/priority.py): a read cursor on a source's tables."""

    def cursor(self, source: str | None = None) -> SqlCursor: ...


class AlertMonitor:
    def __init__(
        self, store: StateStore, inbox: InboxLocation, warehouse: Cursors | None = None, *,
        tick_seconds: float = TICK_SECONDS, clock: Callable[[], float] = time.time,
        retry: Backoff | None = None, backlog_window: float = BACKLOG_WINDOW_SECONDS,
        silence_seconds: float = checks.SILENCE_SECONDS,
        missed_every: float = MISSED_EVERY_SECONDS,
    ) -> None:
        self.store = store
        self.alerts = AlertStore(store)
        self._inbox = inbox
        self._warehouse = warehouse
        self.tick_seconds = tick_seconds
        self._clock = clock
        # A failing channel: 30 s, doubled per failure in a row, at most an hour.
        self._retry = retry or Backoff(30.0, 3600.0)
        self._backlog_window = backlog_window
        self._silence = silence_seconds
        self.missed_every = missed_every
        self._backlogs: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._missed_at: dict[str, float] = {}
        self._missed: dict[str, checks.Finding] = {}
        # Since this start, (channel, delivered|failed): /metrics' alert deliveries.
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self._metrics = _DeliveryMetrics(self.deliveries)
        self._quiet = LogThrottle(60.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertMonitor:
        register_collector(self._metrics)
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        unregister_collector(self._metrics)
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop outlives a bad tick; the next one tries again
                log.exception("the alert check failed; trying again at the next tick")
            self._stop.wait(self.tick_seconds)

    def tick(self) -> list[Notice]:
        """Evaluate and record (the notices of what changed), then send what is pending."""
        notices = self.evaluate()
        self.deliver()
        return notices

    # -- evaluating ------------------------------------------------------------------------

    def evaluate(self) -> list[Notice]:
        now = self._clock()
        names = self.store.source_names()
        incidents = self.alerts.incidents()
        if {key[0] for key in incidents} - set(names):
            self.alerts.forget_source(set(names))  # removed sources: nothing more to say
        secrets = [s for c in self.alerts.channels() for s in secrets_of(c.kind, c.target)]
        notices: list[Notice] = []
        inbox: InboxBackend | None = None
        try:
            for name in names:
                try:
                    source = self.store.get_source(name)
                    health = None
                    if checks.uses_webhook(source):
                        inbox = inbox or self._inbox.open(timeout=10.0)
                        health = inbox.health(name)
                    findings = self._findings(source, health, incidents, now)
                except Exception as exc:  # one source's trouble hides no other source's
                    if self._quiet.allow(name):  # a database that is down: once a minute
                        log.warning("cannot check %r for alerts now: %s", name, exc,
                                    extra={"source": name})
                    continue
                hidden = [*secrets, *_source_secrets(source)]
                for finding in [*findings, *_unchecked(name, findings, incidents)]:
                    notice = self._record(finding, incidents, now, hidden)
                    if notice is not None:
                        notices.append(notice)
        finally:
            if inbox is not None:
                inbox.close()
        return notices

    def _findings(self, source: SourceConfig, health: Health | None,
                  incidents: dict[tuple[str, str, str], Incident],
                  now: float) -> list[checks.Finding]:
        last = self.store.last_runs(source.name)
        successes = {t: self.store.last_success(source.name, t) for t in last}
        found = checks.table_findings(source, last, successes, now)
        if health is not None:
            letters = incidents.get((source.name, "", "dead_letters"))
            found += checks.delivery_findings(
                source, health, now, dead_letter_mark=letters.mark if letters else None,
                dead_letter_since=letters.since if letters else None,
                silence_seconds=self._silence,
            )
            samples = self._backlogs[source.name]
            samples.append((now, health.backlog))
            while len(samples) > 1 and now - samples[1][0] >= self._backlog_window:
                samples.popleft()  # keep one sample at least the window old
            found.append(checks.backlog_finding(source.name, samples, self._backlog_window, now))
            if "messages" in source.tables:
                found.append(self._missed_finding(source.name, now))
        return found

    def _missed_finding(self, name: str, now: float) -> checks.Finding:
        if self._warehouse is None:
            return checks.Finding(name, "", "missed", None)
        if now - self._missed_at.get(name, float("-inf")) >= self.missed_every:
            self._missed_at[name] = now
            self._missed[name] = _missed(self._warehouse, name)
        return self._missed[name]

    def _record(self, finding: checks.Finding, incidents: dict[tuple[str, str, str], Incident],
                now: float, hidden: list[str]) -> Notice | None:
        if finding.firing is None:
            return None
        key = (finding.source, finding.table, finding.kind)
        state = FIRING if finding.firing else RESOLVED
        message = scrubbed(finding.message, hidden)
        prev = incidents.get(key)
        if prev is not None and prev.state == state:
            if finding.mark != prev.mark:  # a count moved: remember it, and when
                self.alerts.record(Incident(*key, state, prev.message, now, finding.mark), None)
            return None
        incident = Incident(*key, state, message, now, finding.mark)
        # A first look that finds nothing wrong is recorded quietly: "resolved" of nothing.
        notice = None if prev is None and state == RESOLVED else Notice(
            finding.source, finding.table or None, finding.kind, state, message, now)
        self.alerts.record(incident, None if notice is None else notice.to_json())
        incidents[key] = incident
        if notice is not None:
            log.info("alert %s: %s", state, notice.subject,
                     extra={"source": notice.source, "table": notice.table})
        return notice

    # -- sending ---------------------------------------------------------------------------

    def deliver(self) -> None:
        """Send each channel's pending notices in order; a failure stops that channel until
        its backoff has passed (its later notices wait, so that none overtakes another)."""
        now = self._clock()
        for channel in self.alerts.channels():
            if channel.retry_at is not None and channel.retry_at > now:
                continue
            for pending in self.alerts.pending(channel.name):
                outcome = send(channel.kind, channel.target, Notice.from_json(pending.notice))
                if not outcome.ok:
                    self.deliveries[(channel.name, "failed")] += 1
                    wait = self._retry.after(channel.failures + 1)
                    self.alerts.channel_failed(channel.name, outcome.answer, now + wait)
                    log.warning("alert channel %s failed (next try in %.0f s): %s",
                                channel.name, wait, outcome.answer)
                    break
                self.deliveries[(channel.name, "delivered")] += 1
                self.alerts.sent(pending.id)
                if channel.failures:
                    self.alerts.channel_succeeded(channel.name)
                    channel = self.alerts.channel(channel.name)


class _DeliveryMetrics(Collector):
    """cio_warehouse_alert_deliveries_total{channel, outcome} on the service's /metrics."""

    def __init__(self, counts: Counter[tuple[str, str]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "cio_warehouse_alert_deliveries", "Alert messages sent since the service started, "
            "by channel and outcome (failed: retried with backoff).", labels=["channel", "outcome"])
        counts = dict(self._counts)  # a copy: the alert thread adds to it meanwhile
        for channel in sorted({c for c, _ in counts}):
            for outcome in ("delivered", "failed"):
                family.add_metric([channel, outcome], counts.get((channel, outcome), 0))
        yield family


def _unchecked(name: str, findings: list[checks.Finding],
               incidents: dict[tuple[str, str, str], Incident]) -> list[checks.Finding]:
    """Firing incidents no check looks at any more (a table or the webhook tables deselected):
    resolved, so that none stays firing for ever."""
    looked = {(f.source, f.table, f.kind) for f in findings}
    return [
        checks.Finding(name, table, kind, False,
                       f"{'.'.join(p for p in (name, table) if p)} is no longer checked for this "
                       "(its table or the webhook is no longer selected).")
        for (source, table, kind), incident in incidents.items()
        if source == name and incident.state == FIRING and (source, table, kind) not in looked
    ]


def _source_secrets(source: SourceConfig) -> list[str]:
    found = [source.app_api_key, source.signing_key, source.previous_signing_key,
             source.destination]
    return [s.reveal() for s in found if s is not None]


def _missed(warehouse: Cursors, name: str) -> checks.Finding:
    """Days of the last week on which the webhook missed deliveries that history has."""
    try:
        cursor = warehouse.cursor(name)
        try:
            tables = {row[0] for row in cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [name]
            ).fetchall()}
            days = missed_by_webhook(cursor, deliveries.relation(tables, name), MISSED_DAYS)
        finally:
            cursor.close()
    except Exception as exc:  # noqa: BLE001  a warehouse not synced yet, locked or down
        log.debug("cannot compare %r's history with its webhook now: %s", name, exc)
        return checks.Finding(name, "", "missed", None)
    if not days:
        return checks.Finding(name, "", "missed", False,
                              f"The webhook of {name} missed no delivery in the last week.")
    missed = sum(d.missed for d in days)
    return checks.Finding(
        name, "", "missed", True,
        f"The webhook of {name} missed {missed} deliveries on {len(days)} day(s) of the last "
        f"week; the latest: {days[-1].sentence()} Check `cio-warehouse webhook status {name}`.",
    )
