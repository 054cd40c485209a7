"""GET /metrics and `--log-format json` of a real `cio-warehouse serve`: one process syncs the
sandbox, takes signed deliveries, and is then scraped with Prometheus' own parser; its output is
read as JSON lines."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.inbox import Inbox
from tests.helpers import EVENT_TABLES, ServeProcess, add_source, cio_sign, run_cli, wait_until
from tests.secrets_plugin import remember

SIGNING_KEY = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
WRONG_KEY = "sbx_" + "0" * 40  # shaped like a key: the secrets scan knows it too
TABLES = ("campaigns", "segments")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Served:
    serve: ServeProcess
    base: str
    admin_token: str
    service_token: str


def _event(n: int) -> bytes:
    """Shaped like the spec's examples: event_id, object_type, metric, timestamp, data."""
    return json.dumps({
        "event_id": f"01JMETRIC{n:017d}", "object_type": "email", "metric": "delivered",
        "timestamp": 1700000000 + n,
        "data": {"delivery_id": f"dlv{n}", "identifiers": {"id": str(n)},
                 "recipient": f"p{n}@example.com"},
    }).encode()


def _deliver(client: httpx.Client, serve: ServeProcess, source: str, body: bytes,
             key: str = SIGNING_KEY) -> int:
    ts = str(int(time.time()))
    return client.post(
        f"{serve.webhook_base}/webhooks/customerio/{source}", content=body,
        headers={"X-CIO-Timestamp": ts, "X-CIO-Signature": cio_sign(key, ts, body),
                 "Content-Type": "application/json"},
    ).status_code


@pytest.fixture
def served(store: StateStore, sandbox: SandboxServer, api_key: str,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """acme reads the sandbox and has a signing key; beta's App API key is wrong (its syncs
    fail with 401) and it has no signing key (its deliveries are dropped)."""
    acme = add_source(store, sandbox, api_key, tables=(*TABLES, *EVENT_TABLES))
    store.update_source(replace(acme, signing_key=Secret(SIGNING_KEY)))
    add_source(store, sandbox, WRONG_KEY, name="beta", tables=("campaigns",))
    remember(WRONG_KEY)
    remember(SIGNING_KEY)
    admin_token = secrets.token_urlsafe(32)
    remember(admin_token)
    monkeypatch.setenv("CIO_WAREHOUSE_ADMIN_TOKEN", admin_token)
    # --no-scheduler: the test syncs through the service itself, and knows how many runs to
    # expect; the JSON format comes from the environment variable, as a container sets it.
    monkeypatch.setenv("CIO_WAREHOUSE_LOG_FORMAT", "json")
    serve = ServeProcess(store.data_dir, None, None, "--no-scheduler").start()
    info = json.loads(store.data_dir.service_file.read_text())
    remember(info["token"])
    try:
        yield Served(serve, info["url"], admin_token, info["token"])
    finally:
        if serve.proc is not None and serve.proc.poll() is None:
            serve.stop()


def _scrape(served: Served, token: str) -> tuple[str, Samples, dict[str, str]]:
    response = httpx.get(f"{served.base}/metrics", timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    helps: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        helps[family.name] = family.documentation
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples, helps


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_and_json_logs_of_a_running_service(
    served: Served, store: StateStore, api_key: str, workspace: Workspace
) -> None:
    # /metrics is the API's: no token, or a wrong one, is 401 (never the login page).
    anonymous = httpx.get(f"{served.base}/metrics", timeout=10, follow_redirects=False)
    assert anonymous.status_code == 401
    wrong = httpx.get(f"{served.base}/metrics", timeout=10,
                      headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401

    assert run_cli(store.data_dir, "sync", "acme").code == 0
    assert run_cli(store.data_dir, "sync", "beta").code == 1  # 401: the key is wrong
    with httpx.Client(timeout=10) as client:
        assert [_deliver(client, served.serve, "acme", _event(n)) for n in range(5)] == [200] * 5
        assert _deliver(client, served.serve, "acme", _event(2)) == 200  # a retry
        assert _deliver(client, served.serve, "acme", _event(9), key="f" * 64) == 401
        assert _deliver(client, served.serve, "beta", _event(10)) == 200  # dropped: no key

    def loaded() -> Samples | None:
        samples = _scrape(served, served.service_token)[1]
        return samples if _value(samples, "cio_warehouse_inbox_backlog_events",
                                 source="acme") == 0 else None

    wait_until(loaded, "the backlog to be loaded", 60, interval=0.5)
    text, samples, helps = _scrape(served, served.admin_token)

    # Sync runs: the counter is the run history, by source, table and status.
    counts = store.run_counts()
    assert counts == {("acme", "campaigns", "succeeded"): 1, ("acme", "segments", "succeeded"): 1,
                      ("beta", "campaigns", "failed"): 1}
    for (source, table, status), n in counts.items():
        assert _value(samples, "cio_warehouse_sync_runs_total",
                      source=source, table=table, status=status) == n
    for table in TABLES:
        run = store.last_runs("acme")[table]
        assert run.rows == workspace.expected_rows(table) and run.duration is not None
        assert _value(samples, "cio_warehouse_sync_last_run_rows",
                      source="acme", table=table) == run.rows
        assert _value(samples, "cio_warehouse_sync_last_run_duration_seconds",
                      source="acme", table=table) == pytest.approx(run.duration)
        assert _value(samples, "cio_warehouse_sync_last_run_success",
                      source="acme", table=table) == 1
        assert _value(samples, "cio_warehouse_sync_last_success_timestamp_seconds",
                      source="acme", table=table) == pytest.approx(run.ended_at)
        age = _value(samples, "cio_warehouse_sync_last_success_age_seconds",
                     source="acme", table=table)
        assert age is not None and 0 <= age < time.time() - run.started_at + 1
        assert _value(samples, "cio_warehouse_sync_frequency_seconds",
                      source="acme", table=table) == 6 * 3600
        assert _value(samples, "cio_warehouse_sync_in_progress", source="acme", table=table) == 0
    assert _value(samples, "cio_warehouse_sync_last_run_success",
                  source="beta", table="campaigns") == 0
    assert _value(samples, "cio_warehouse_sync_last_run_rows",
                  source="beta", table="campaigns") is None  # a failed run loaded nothing
    assert _value(samples, "cio_warehouse_sync_last_success_age_seconds",
                  source="beta", table="campaigns") is None  # never succeeded

    # Deliveries: the inbox's counters, by outcome and by rejection reason.
    inbox = Inbox(store.data_dir.inbox)
    try:
        health = {name: inbox.health(name) for name in ("acme", "beta")}
    finally:
        inbox.close()
    expected = {"acme": {"stored": 5, "duplicate": 1, "dead_letter": 0, "dropped": 0,
                         "rejected": 1},
                "beta": {"stored": 0, "duplicate": 0, "dead_letter": 0, "dropped": 1,
                         "rejected": 0}}
    for source, outcomes in expected.items():
        assert health[source].counters["received"] == sum(outcomes.values())
        assert _value(samples, "cio_warehouse_webhook_deliveries_received_total",
                      source=source) == sum(outcomes.values())
        for outcome, n in outcomes.items():
            assert _value(samples, "cio_warehouse_webhook_deliveries_total",
                          source=source, outcome=outcome) == n, (source, outcome)
        assert _value(samples, "cio_warehouse_inbox_backlog_events", source=source) == 0
        assert _value(samples, "cio_warehouse_loader_lag_seconds", source=source) == 0
    assert _value(samples, "cio_warehouse_webhook_deliveries_rejected_total",
                  source="acme", reason="bad_signature") == 1
    assert _value(samples, "cio_warehouse_webhook_consecutive_rejections", source="acme") == 1
    assert _value(samples, "cio_warehouse_webhook_last_delivery_timestamp_seconds",
                  source="acme") == pytest.approx(health["acme"].last_delivery_at)
    assert _value(samples, "cio_warehouse_inbox_up") == 1
    assert _value(samples, "cio_warehouse_loader_running") == 1
    assert _value(samples, "cio_warehouse_loader_consecutive_failures") == 0
    assert _value(samples, "cio_warehouse_loader_last_load_timestamp_seconds")
    assert all(helps.values()), "every family has its HELP text"
    for secret in (api_key, WRONG_KEY, SIGNING_KEY, served.admin_token, served.service_token):
        assert secret not in text

    # Logs: every line of stdout and stderr is one JSON object; those about a source say so.
    output = served.serve.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines), output
    assert lines[-1]["message"].startswith("Stopped: "), lines[-1]
    failed = [x for x in lines if x["message"].startswith("sync of beta.campaigns failed")]
    assert failed and failed[0]["source"] == "beta" and failed[0]["table"] == "campaigns"
    rejected = [x for x in lines if "rejected (bad_signature)" in x["message"]]
    assert rejected and rejected[0]["source"] == "acme" and rejected[0]["level"] == "WARNING"
    dropped = [x for x in lines if "was dropped" in x["message"]]
    assert dropped and dropped[0]["source"] == "beta"
    for secret in (api_key, WRONG_KEY, SIGNING_KEY, served.admin_token, served.service_token):
        assert secret not in output
