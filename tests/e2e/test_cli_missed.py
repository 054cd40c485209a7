"""`cio-warehouse webhook status` and `status` say on which days the webhook missed deliveries
that message history has: through the running service, and read locally once it stopped."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import httpx

from cio_warehouse.sandbox import Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.service.discovery import find_running
from cio_warehouse.state import StateStore
from tests.gapped_stream import deliver_with_a_gap, gapped_sandbox
from tests.helpers import EVENT_TABLES, ServeProcess, add_source, run_cli, wait_until

SENTENCE = re.compile(r"The webhook missed (\d+) of (\d+) deliveries on (\d{4}-\d{2}-\d{2});")
# Per day, written apart from warehouse/missed.py: sent deliveries of history the webhook never
# reported, and all sent ones of history, created between the webhook's first and last delivery.
EXPECTED = """
select cast(created_at at time zone 'UTC' as date) as day,
       sum(case when from_webhook then 0 else 1 end) as missed, count(*) as in_history
from acme.deliveries
where from_history and sent_at is not null
  and created_at >= (select min(created_at) from acme.deliveries where from_webhook)
  and created_at <= (select max(created_at) from acme.deliveries where from_webhook)
group by 1 having sum(case when from_webhook then 0 else 1 end) > 0 order by 1
"""


def _query(store: StateStore, sql: str) -> list[dict[str, object]]:
    result = run_cli(store.data_dir, "query", sql, "--format", "json")
    assert result.code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def _said(output: str) -> list[tuple[str, int, int]]:
    return [(day, int(missed), int(seen)) for missed, seen, day in SENTENCE.findall(output)]


def test_webhook_status_says_what_the_webhook_missed(
    store: StateStore, workspace: Workspace, api_key: str
) -> None:
    with gapped_sandbox(workspace, api_key) as sandbox:
        # Only event tables: the scheduler starts no sync of its own; messages is synced below.
        add_source(store, sandbox, api_key, tables=EVENT_TABLES, history_days=3)
        serve = ServeProcess(store.data_dir)
        registered = run_cli(store.data_dir, "webhook", "register", "acme",
                             "--url", serve.webhook_base)
        assert registered.code == 0, registered.output
        [hook] = sandbox.webhooks()
        keyed = run_cli(store.data_dir, "webhook", "signing-key", "acme",
                        stdin=sandbox.signing_key(hook["id"]) + "\n")
        assert keyed.code == 0, keyed.output
        serve.start()
        try:
            skipped = deliver_with_a_gap(sandbox)
            delivered = sum(s.delivered for s in sandbox.delivery_stats().values())
            running = find_running(store.data_dir)
            assert running is not None
            with httpx.Client(base_url=running.url, timeout=30,
                              headers={"Authorization": f"Bearer {running.token}"}) as api:
                def loaded() -> bool:
                    health = api.get("/api/v1/sources/acme/webhook").json()["health"]
                    return bool(health["backlog"] == 0 and health["stored"] >= delivered)

                wait_until(loaded, "the deliveries to reach the warehouse", 60, interval=0.2)
            synced = run_cli(store.data_dir, "sync", "acme", "--table", "messages")
            assert synced.code == 0, synced.output

            expected = [(str(r["day"]), int(str(r["missed"])), int(str(r["in_history"])))
                        for r in _query(store, EXPECTED)]
            assert expected and sum(missed for _, missed, _ in expected) > 0
            # The skipped sent events' deliveries the webhook never saw are among the missed.
            ids = ", ".join(f"'{i}'" for i in skipped)
            [row] = _query(store, f"select count(*) as n from acme.deliveries where delivery_id"
                                  f" in ({ids}) and from_history and not from_webhook")
            assert 0 < int(str(row["n"])) <= sum(missed for _, missed, _ in expected)

            through_service = run_cli(store.data_dir, "webhook", "status", "acme")
            assert through_service.code == 0, through_service.output
            assert _said(through_service.stdout) == expected, through_service.stdout
            assert "message history has them" in through_service.stdout
        finally:
            serve.stop()

        # No service: the CLI reads the warehouse itself, and says the same.
        local = run_cli(store.data_dir, "webhook", "status", "acme")
        assert local.code == 0, local.output
        assert _said(local.stdout) == expected, local.stdout
        status = run_cli(store.data_dir, "status", "acme")
        assert status.code == 0, status.output
        assert _said(status.stdout) == expected, status.stdout


def test_nothing_is_said_before_any_sync(store: StateStore, workspace: Workspace,
                                         api_key: str) -> None:
    """No warehouse yet: no sentence, and no error either."""
    with gapped_sandbox(workspace, api_key) as sandbox:
        source = add_source(store, sandbox, api_key, tables=EVENT_TABLES)
        store.update_source(replace(source, signing_key=Secret("k" * 64)))
        result = run_cli(store.data_dir, "webhook", "status", "acme")
    assert result.code == 0, result.output
    assert "missed" not in result.stdout and "Traceback" not in result.output
