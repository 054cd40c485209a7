"""`tables NAME` as a user reads it: event tables with their rows and last event (the facts the
web app's source page shows), in an 80-column terminal, with and without `serve` running."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

import httpx

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceSettings, StateStore
from tests.helpers import (
    EVENT_TABLES,
    ServeProcess,
    add_source,
    cio_sign,
    delivery_body,
    run_cli,
    wait_until,
)

SIGNING_KEY = "0312f40e5d6c7b8a9a8b7c6d5e4f30211f2e3d4c5b6a79881726354453627180"


def _row(output: str, table: str) -> list[str]:
    """The cells of a table's line (columns are 2 or more spaces apart)."""
    [line] = [line for line in output.splitlines() if line.startswith(f"{table} ")]
    return re.split(r"\s{2,}", line.strip())


def test_tables_shows_event_rows_and_last_event_in_80_columns(
    store: StateStore, sandbox: SandboxServer, api_key: str, workspace: Workspace
) -> None:
    source = add_source(store, sandbox, api_key, tables=("campaigns", *EVENT_TABLES))
    store.update_source(replace(source, signing_key=Secret(SIGNING_KEY),
                                settings=SourceSettings(webhook_id=1)))
    serve = ServeProcess(store.data_dir, None, None, "--no-scheduler").start()
    try:
        assert run_cli(store.data_dir, "sync", "acme", "--table", "campaigns").code == 0
        with httpx.Client(timeout=10) as client:
            for n in range(7):
                body = delivery_body(n * 9, "TABLS")  # every 9th: email
                ts = str(int(time.time()))
                answer = client.post(
                    f"{serve.webhook_base}/webhooks/customerio/acme", content=body,
                    headers={"X-CIO-Timestamp": ts, "X-CIO-Signature": cio_sign(SIGNING_KEY, ts,
                                                                                 body)})
                assert answer.status_code == 200

        def facts() -> list[dict[str, object]]:
            result = run_cli(store.data_dir, "query", "--format", "json",
                             "select count(*) as n, strftime(max(received_at), '%Y-%m-%d %H:%M')"
                             " as at from acme.email_events")
            return json.loads(result.stdout) if result.code == 0 else []

        [expected] = wait_until(lambda: [f for f in facts() if f["n"] == 7], "7 email events")
        shown = [run_cli(store.data_dir, "tables", "acme", env={"COLUMNS": "80"})]
    finally:
        serve.stop()
    shown.append(run_cli(store.data_dir, "tables", "acme", env={"COLUMNS": "80"}))  # read here

    for result in shown:
        assert result.code == 0, result.output
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), result.stdout
        assert _row(result.stdout, "email_events")[:5] == [
            "email_events", "webhook", "realtime", "7", str(expected["at"])]
        assert _row(result.stdout, "campaigns")[:4] == [
            "campaigns", "full refresh", "succeeded", f"{workspace.expected_rows('campaigns'):,}"]
        assert _row(result.stdout, "sms_events")[2:5] == ["realtime", "0", "no events yet"]
        assert _row(result.stdout, "segments")[2:5] == ["not selected", "-", "-"]
