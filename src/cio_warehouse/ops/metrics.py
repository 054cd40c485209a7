"""The service's Prometheus metrics, read at scrape time from where the facts are kept.

Nothing is counted in memory: runs come from the state store's history, deliveries from the
inbox's health counters, the backlog from the inbox itself. So a restart loses nothing that is
stored, several receivers on one shared inbox are counted once, and a scrape shows what `status`
shows. Label values are source and table names and fixed words (status, outcome, reason): never
a key, a URL or a message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from cio_warehouse.frequencies import table_frequencies
from cio_warehouse.ops.ports import RunningService
from cio_warehouse.state import RunRecord, StateStore
from cio_warehouse.webhooks.health import DeliveryCounters
from cio_warehouse.webhooks.inbox import Health

log = logging.getLogger(__name__)

# A scrape must answer even when a shared inbox hangs: Prometheus times out at 10 s by default.
INBOX_TIMEOUT_SECONDS = 5.0
DELIVERY_OUTCOMES = ("stored", "duplicate", "dead_letter", "dropped", "rejected")

_extra_lock = threading.Lock()
_extra: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add a collector to every /metrics scrape of this process (e.g. alert deliveries by
    outcome); its metrics are read at each scrape, after the service's."""
    with _extra_lock:
        if collector not in _extra:
            _extra.append(collector)


def unregister_collector(collector: Collector) -> None:
    with _extra_lock:
        if collector in _extra:
            _extra.remove(collector)


class _Registered(Collector):
    """The collectors given to register_collector, as they are at scrape time."""

    def collect(self) -> Iterable[Metric]:
        with _extra_lock:
            collectors = list(_extra)
        for collector in collectors:
            yield from collector.collect()


def metrics_registry(service: RunningService) -> CollectorRegistry:
    """The registry /metrics serves: the service's collector, then the registered ones."""
    registry = CollectorRegistry(auto_describe=False)  # nothing is read before the first scrape
    registry.register(ServiceCollector(service))
    registry.register(_Registered())
    return registry


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"cio_warehouse_{name}", documentation, labels=list(labels))


def _counter(name: str, documentation: str, labels: Iterable[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"cio_warehouse_{name}", documentation, labels=list(labels))


class ServiceCollector(Collector):
    """Sync runs, webhook deliveries, the inbox backlog and the event loader of one service."""

    def __init__(self, service: RunningService, clock: Callable[[], float] = time.time) -> None:
        self._service = service
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        store = self._service.store
        names = store.source_names()
        yield from _sync_metrics(self._service, store, names, now)
        yield from self._inbox_metrics(names, now)
        yield from self._loader_metrics()

    def _inbox_metrics(self, names: list[str], now: float) -> Iterator[Metric]:
        up = _gauge("inbox_up", "1 if the webhook inbox answered this scrape, else 0 (the "
                    "delivery and backlog metrics are then left out).")
        healths: list[Health] = []
        try:
            inbox = self._service.inbox.open(timeout=INBOX_TIMEOUT_SECONDS)
            try:
                healths = [inbox.health(name) for name in names]
            finally:
                inbox.close()
        except Exception as exc:  # noqa: BLE001  a scrape reports the inbox down, never fails
            log.warning("metrics: the webhook inbox could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _delivery_metrics(healths, now)

    def _loader_metrics(self) -> Iterator[Metric]:
        status = self._service.loader.status()
        running = _gauge("loader_running", "1 while the event loader runs in this service.")
        running.add_metric([], 1 if status.running else 0)
        failures = _gauge("loader_consecutive_failures",
                          "Failed event loads in a row (0 once a load succeeds).")
        failures.add_metric([], status.consecutive_failures)
        yield from (running, failures)
        if status.last_loaded_at is not None:
            last = _gauge("loader_last_load_timestamp_seconds",
                          "When the event loader last committed a load to the warehouse.")
            last.add_metric([], status.last_loaded_at)
            yield last


def _sync_metrics(
    service: RunningService, store: StateStore, names: list[str], now: float
) -> Iterator[Metric]:
    keys = ("source", "table")
    runs = _counter("sync_runs", "Finished sync runs by status (succeeded, failed, "
                    "interrupted), from the run history.", (*keys, "status"))
    for (source, table, status), n in sorted(store.run_counts().items()):
        if source in names:
            runs.add_metric([source, table, status], n)
    rows = _gauge("sync_last_run_rows", "Rows the last finished run of the table loaded "
                  "(left out when it failed).", keys)
    duration = _gauge("sync_last_run_duration_seconds",
                      "How long the last finished run of the table took.", keys)
    success = _gauge("sync_last_run_success",
                     "1 if the last finished run of the table succeeded, else 0.", keys)
    frequency = _gauge("sync_frequency_seconds", "How often the table is synced.", keys)
    last_ok = _gauge("sync_last_success_timestamp_seconds",
                     "When the last successful run of the table ended.", keys)
    age = _gauge("sync_last_success_age_seconds",
                 "Seconds since the last successful run of the table ended.", keys)
    running = _gauge("sync_in_progress", "1 while the table is being synced.", keys)
    for name in names:
        config = store.get_source(name)
        last = store.last_runs(name)
        busy = service.jobs.running_tables(name)
        for table, interval in table_frequencies(config).items():
            labels = [name, table]
            frequency.add_metric(labels, interval)
            running.add_metric(labels, 1 if table in busy else 0)
            finished = _last_finished(store, last.get(table))
            if finished is not None and finished.duration is not None:
                duration.add_metric(labels, finished.duration)
                success.add_metric(labels, 1 if finished.status == "succeeded" else 0)
                if finished.rows is not None:
                    rows.add_metric(labels, finished.rows)
            good = (finished if finished is not None and finished.status == "succeeded"
                    else store.last_success(name, table))
            if good is not None and good.ended_at is not None:
                last_ok.add_metric(labels, good.ended_at)
                age.add_metric(labels, max(0.0, now - good.ended_at))
    yield from (runs, rows, duration, success, frequency, last_ok, age, running)


def _last_finished(store: StateStore, latest: RunRecord | None) -> RunRecord | None:
    """The latest run, or, while that one runs, the one before it."""
    if latest is None or latest.status != "running":
        return latest
    earlier = [r for r in store.runs(latest.source, latest.table, limit=2) if r.id != latest.id]
    return earlier[0] if earlier else None


def _delivery_metrics(healths: list[Health], now: float) -> Iterator[Metric]:
    received = _counter("webhook_deliveries_received", "Webhook deliveries received (every "
                        "outcome below), from the inbox's counters.", ("source",))
    outcomes = _counter("webhook_deliveries", "Webhook deliveries by outcome: stored, duplicate "
                        "(acknowledged again), dead_letter (signed, unusable body, stored raw), "
                        "dropped (no signing key stored), rejected.", ("source", "outcome"))
    rejected = _counter("webhook_deliveries_rejected", "Rejected webhook deliveries by reason "
                        "(bad_signature, stale_timestamp, body_too_large, ...).",
                        ("source", "reason"))
    last = _gauge("webhook_last_delivery_timestamp_seconds",
                  "When the last accepted webhook delivery arrived.", ("source",))
    streak = _gauge("webhook_consecutive_rejections",
                    "Webhook deliveries rejected in a row since the last accepted one.",
                    ("source",))
    backlog = _gauge("inbox_backlog_events", "Events acknowledged to Customer.io but not yet "
                     "loaded into the warehouse.", ("source",))
    lag = _gauge("loader_lag_seconds", "Age of the oldest event acknowledged but not yet "
                 "loaded into the warehouse (0 when none waits).", ("source",))
    for health in healths:
        source = health.source
        counters = DeliveryCounters.of(health.counters)
        received.add_metric([source], counters.received)
        for outcome, n in zip(DELIVERY_OUTCOMES, (
            counters.stored, counters.duplicates, counters.dead_letters, counters.dropped,
            counters.rejected,
        ), strict=True):
            outcomes.add_metric([source, outcome], n)
        for reason, n in sorted(counters.rejected_by_reason.items()):
            rejected.add_metric([source, reason], n)
        if health.last_delivery_at is not None:
            last.add_metric([source], health.last_delivery_at)
        streak.add_metric([source], health.consecutive_rejections)
        backlog.add_metric([source], health.backlog)
        oldest = health.oldest_pending_at
        lag.add_metric([source], 0.0 if oldest is None else max(0.0, now - oldest))
    yield from (received, outcomes, rejected, last, streak, backlog, lag)
