"""Stopping `serve` as a terminal's Ctrl-C or a service manager's SIGTERM does (the signal to the
whole process group, the receiver too) while the sandbox streams signed deliveries: every
acknowledged delivery is in the warehouse, the inbox holds none unloaded, service.json is gone,
DuckDB's WAL is checkpointed, and `serve` says so in one closing line."""

from __future__ import annotations

import os
import re
import signal
import sqlite3

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import ServeProcess, run_cli, wait_until


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_group_loads_every_acknowledged_delivery(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, sig: signal.Signals
) -> None:
    added = run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                    "--table", "email_events", "--table", "push_events", stdin=api_key)
    assert added.code == 0, added.output
    serve = ServeProcess(data_dir, None, None, "--no-scheduler").start()
    assert serve.proc is not None
    try:
        registered = run_cli(data_dir, "webhook", "register", "acme", "--url", serve.webhook_base)
        assert registered.code == 0, registered.output
        hook = int(re.findall(r"reporting webhook (\d+)", registered.stdout)[0])
        stored = run_cli(data_dir, "webhook", "signing-key", "acme",
                         stdin=sandbox.signing_key(hook))
        assert stored.code == 0, stored.output
        sandbox.stream(150)
        wait_until(lambda: sandbox.delivery_stats()[hook].delivered >= 300,
                   "300 acknowledged deliveries", 60, detail=lambda: sandbox.delivery_stats()[hook])
        os.killpg(serve.proc.pid, sig)  # mid-stream: deliveries are in flight
        output, _ = serve.proc.communicate(timeout=120)
    finally:
        sandbox.stop_stream()
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.proc.communicate(timeout=30)
    assert serve.proc.returncode == 0, output
    acknowledged = sandbox.delivery_stats()[hook].delivered

    assert not data_dir.service_file.exists(), output
    assert not (data_dir.root / "warehouse.duckdb.wal").exists(), output
    with sqlite3.connect(data_dir.inbox) as inbox:
        [(unloaded,)] = inbox.execute("SELECT count(*) FROM events WHERE loaded_at IS NULL")
        [(kept,)] = inbox.execute("SELECT count(*) FROM events")
    assert unloaded == 0, output
    assert kept >= acknowledged  # a delivery answered 2xx was stored first

    counted = run_cli(data_dir, "query", "--format", "csv",
                      "select (select count(*) from acme.email_events)"
                      " + (select count(*) from acme.push_events) as n")
    assert counted.code == 0, counted.output
    assert int(counted.stdout.splitlines()[1]) == kept
    last = output.strip().splitlines()[-1]
    assert re.fullmatch(r"Stopped: \d+ acknowledged events loaded, none left in the inbox; "
                        r"the warehouse is checkpointed\.", last), output
    assert sum("Stopped" in line for line in output.splitlines()) == 1, output
