"""The product, unchanged in use, on a real PostgreSQL: `serve` loads webhook events into it,
the CLI and the JSON API query it, a failed sync keeps its rows, and a PostgreSQL that goes down
holds events in the inbox until it is back, with `status` saying so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg2
import pytest

from cio_warehouse.sandbox import SandboxServer, ServerError
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.sync.runner import run_sync
from tests.e2e.test_serve import SIGNING_KEY, _deliver, _event
from tests.helpers import EVENT_TABLES, ServeProcess, add_source, run_cli, wait_until
from tests.services.postgres import PostgresServer, remove, start_postgres


def _one(url: str, sql: str) -> tuple[object, ...]:
    """Read PostgreSQL with its own client, not through the product."""
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
            assert row is not None
            return tuple(row)
    finally:
        con.close()


def _on_postgres(store: StateStore, sandbox: SandboxServer, api_key: str, url: str,
                 tables: tuple[str, ...] | None = None) -> None:
    source = add_source(store, sandbox, api_key, tables=tables, max_attempts=2,
                        max_retry_seconds=5.0)
    store.update_source(
        replace(source, destination=Secret(url), signing_key=Secret(SIGNING_KEY))
    )


def test_failed_sync_keeps_the_previous_rows_in_postgres(
    store: StateStore, sandbox: SandboxServer, api_key: str, postgres_url: str
) -> None:
    _on_postgres(store, sandbox, api_key, postgres_url)
    assert all(o.status == "succeeded" for o in run_sync(store, "acme", ["newsletters"]))
    before = _one(postgres_url, "select count(*), count(distinct _dlt_load_id), min(_dlt_load_id)"
                                " from acme.newsletters")
    sandbox.set_faults([ServerError(path="/v1/newsletters", status=502, count=None, after=2)])
    (outcome,) = run_sync(store, "acme", ["newsletters"])
    assert outcome.status == "failed" and "previous rows were kept" in (outcome.error or "")
    after = _one(postgres_url, "select count(*), count(distinct _dlt_load_id), min(_dlt_load_id)"
                               " from acme.newsletters")
    assert after == before and before[1] == 1


@pytest.fixture
def served(store: StateStore, sandbox: SandboxServer, api_key: str, postgres_url: str
           ) -> Iterator[ServeProcess]:
    _on_postgres(store, sandbox, api_key, postgres_url, tables=("campaigns", *EVENT_TABLES))
    # No scheduler: its first sync of campaigns would race the CLI's below ("Already syncing").
    serve = ServeProcess(store.data_dir, None, None, "--no-scheduler").start()
    yield serve
    serve.stop()


def _loaded(url: str) -> int:
    try:
        return int(_one(url, "select count(*) from acme.email_events")[0])  # type: ignore[call-overload]
    except psycopg2.Error:
        return 0


def _backlog(store: StateStore) -> int:
    """The inbox backlog that `status` shows."""
    status = run_cli(store.data_dir, "status", "acme").stdout
    line = next(line for line in status.splitlines() if "inbox backlog" in line)
    return int(line.strip("│ ").split("│")[-1].strip().replace(",", ""))


def test_serve_loads_events_and_answers_queries_on_postgres(
    served: ServeProcess, store: StateStore, postgres_url: str, workspace
) -> None:
    synced = run_cli(store.data_dir, "sync", "acme", "--table", "campaigns")
    assert synced.code == 0, synced.output
    with httpx.Client(timeout=10) as client:
        for n in range(30):
            assert _deliver(client, served, _event(n)).status_code == 200
        assert _deliver(client, served, _event(4)).status_code == 200  # a retry
    wait_until(lambda: _loaded(postgres_url) == 30, "30 events in PostgreSQL")
    assert _one(postgres_url, "select count(distinct event_id) from acme.email_events") == (30,)
    # The CLI goes through the service, which reads PostgreSQL (PostgreSQL's own SQL works).
    result = run_cli(store.data_dir, "query", "--format", "json",
                     "select count(*)::int as n, count(distinct campaign_id)::int as c"
                     " from acme.email_events where received_at > now() - interval '1 hour'")
    assert result.code == 0, result.output
    assert json.loads(result.stdout) == [{"n": 30, "c": 1}]
    campaigns = run_cli(store.data_dir, "query", "--format", "json",
                        "select count(*) as n from acme.campaigns")
    assert json.loads(campaigns.stdout) == [{"n": workspace.expected_rows("campaigns")}]
    # Read-only: PostgreSQL itself refuses what the parser check lets through.
    refused = run_cli(store.data_dir, "query", "select nextval('x')")
    assert refused.code == 1 and "Traceback" not in refused.output
    status = run_cli(store.data_dir, "status", "acme")
    assert status.code == 0, status.output
    assert "postgresql://cio:***@" in status.stdout, status.stdout
    assert "Event loader: running" in status.stdout, status.stdout
    assert postgres_url.split(":")[2].split("@")[0] not in status.output  # no password


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of its own: this test stops it."""
    server = start_postgres()
    yield server
    remove(server)


def test_postgres_down_holds_events_in_the_inbox_until_it_is_back(
    store: StateStore, sandbox: SandboxServer, api_key: str, private_postgres: PostgresServer
) -> None:
    url = private_postgres.url()
    _on_postgres(store, sandbox, api_key, url, tables=EVENT_TABLES)
    serve = ServeProcess(store.data_dir).start()
    try:
        with httpx.Client(timeout=10) as client:
            for n in range(10):
                assert _deliver(client, serve, _event(n)).status_code == 200
            wait_until(lambda: _loaded(url) == 10, "10 events in PostgreSQL")
            # The loader marks events done in its inbox just after PostgreSQL commits them.
            wait_until(lambda: _backlog(store) == 0, "an empty backlog")
            private_postgres.stop()
            # The receiver does not need the warehouse: it keeps acking into its inbox.
            for n in range(10, 40):
                assert _deliver(client, serve, _event(n)).status_code == 200

            def backing_off() -> bool:
                return "Event loader failing" in run_cli(store.data_dir, "status", "acme").stdout
            wait_until(backing_off, "the loader to back off")
            status = run_cli(store.data_dir, "status", "acme").stdout
            assert "next retry in" in status, status
            assert _backlog(store) == 30, status
            private_postgres.start()
            wait_until(lambda: _loaded(url) == 40, "40 events in PostgreSQL", timeout=90)
        assert _one(url, "select count(distinct event_id) from acme.email_events") == (40,)
    finally:
        serve.stop()


def test_remove_with_drop_data_drops_the_schema_in_postgres(
    store: StateStore, sandbox: SandboxServer, api_key: str, postgres_url: str
) -> None:
    _on_postgres(store, sandbox, api_key, postgres_url, tables=("snippets",))
    assert run_cli(store.data_dir, "sync", "acme").code == 0
    schemas = "select count(*) from information_schema.schemata where schema_name like 'acme%'"
    assert _one(postgres_url, schemas) == (2,)  # acme and dlt's acme_staging
    removed = run_cli(store.data_dir, "source", "remove", "acme", "--drop-data")
    assert removed.code == 0, removed.output
    assert _one(postgres_url, schemas) == (0,)
