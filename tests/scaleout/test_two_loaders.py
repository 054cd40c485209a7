"""Two loader processes drain one shared inbox at once into one PostgreSQL warehouse, while
events keep arriving: each event is loaded by exactly one of them, once (FOR UPDATE SKIP LOCKED
claims; one dlt load at a time per dataset)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks.inbox import ENV_INBOX, InboxLocation, Kind, Submission
from cio_warehouse.webhooks.loader import EventLoader
from tests.helpers import run_cli
from tests.scaleout.conftest import pg_inbox
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.timeout(300)

N_EVENTS = 2000
GROUP = 50
BATCH = 100  # small batches: many claims, so that the two loaders interleave
CHANNELS = ["email", "push", "sms", "customer"]


def _event(n: int) -> Submission:
    object_type = CHANNELS[n % len(CHANNELS)]
    event_id = f"01JLOADERS{n:016d}"
    body = json.dumps({
        "event_id": event_id, "object_type": object_type,
        "metric": "subscribed" if object_type == "customer" else "delivered",
        "timestamp": 1700000000 + n, "data": {"delivery_id": f"d{n}", "identifiers": {"id": "1"}},
    }).encode()
    return Submission("acme", Kind.EVENT, time.time(), body, event_id)


def test_two_loaders_at_once_load_every_event_exactly_once(
    tmp_path: Path, shared_inbox: InboxLocation, postgres_server: PostgresServer
) -> None:
    assert shared_inbox.url is not None
    warehouse = postgres_server.create_database("w_" + secrets.token_hex(6))
    stop_file = tmp_path / "writer-done"
    env = {**os.environ, ENV_INBOX: shared_inbox.url.reveal()}
    loaders = []
    for name in ("one", "two"):  # each with a data dir of its own, as on two machines
        data_dir = DataDir(tmp_path / name).create()
        StateStore(data_dir).add_source(SourceConfig(
            name="acme", region="us", app_api_key=Secret("unused"),
            destination=Secret(warehouse)))
        loaders.append(subprocess.Popen(
            [sys.executable, "-m", "tests.scaleout.drain_process", str(data_dir.root),
             str(BATCH), str(stop_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ))
    inbox = pg_inbox(shared_inbox)
    try:
        for start in range(0, N_EVENTS, GROUP):  # arriving while they drain
            inbox.write([_event(n) for n in range(start, start + GROUP)])
            time.sleep(0.02)
        stop_file.touch()
        outputs = [proc.communicate(timeout=240) for proc in loaders]
        assert inbox.health("acme").backlog == 0
    finally:
        inbox.close()
        for proc in loaders:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    results = []
    for proc, (out, err) in zip(loaders, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Loaded by one loader or the other, never by both: the sum is exact.
    assert sum(r["events"] for r in results) == N_EVENTS, results
    assert all(r["events"] > 0 for r in results), results

    union = " union all ".join(f"select event_id from acme.{c}_events" for c in CHANNELS)
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(f"select count(*), count(distinct event_id) from ({union}) e")
        assert cur.fetchone() == (N_EVENTS, N_EVENTS)
    conn.close()
    print(f"loaders: {results}")


def test_a_loader_takes_only_the_sources_its_data_dir_knows(
    data_dir: DataDir, shared_inbox: InboxLocation
) -> None:
    """Loading a source it does not know, a loader would guess its destination (its own
    DuckDB file) and split that source's events between warehouses."""
    StateStore(data_dir).add_source(SourceConfig(name="acme", region="us",
                                                 app_api_key=Secret("unused")))
    inbox = pg_inbox(shared_inbox)
    loader = EventLoader(data_dir, inbox=shared_inbox)
    try:
        stranger = [Submission("stranger", s.kind, s.received_at, s.body, s.event_id)
                    for s in map(_event, range(5))]
        inbox.write([*stranger, *map(_event, range(5, 10))])
        inbox.write([Submission("stranger", Kind.DEAD_LETTER, time.time(), b"x", reason="y")])
        stats = loader.drain()
        assert (stats.events, stats.dead_letters) == (5, 0)
        assert inbox.health("acme").backlog == 0
        assert inbox.health("stranger").backlog == 5  # for a loader that knows it
        assert len(inbox.pending_dead_letters(10)) == 1
    finally:
        loader.close()
        inbox.close()


def test_load_once_from_the_command_line(
    data_dir: DataDir, shared_inbox: InboxLocation
) -> None:
    assert shared_inbox.url is not None
    StateStore(data_dir).add_source(SourceConfig(name="acme", region="us",
                                                 app_api_key=Secret("unused")))
    inbox = pg_inbox(shared_inbox)
    try:
        inbox.write([_event(n) for n in range(7)])
        result = run_cli(data_dir, "load", "--once", env={ENV_INBOX: shared_inbox.url.reveal()})
        assert result.code == 0, result.output
        assert "Loaded 7 events and 0 dead letters from the inbox postgresql://cio:***@" in (
            result.stdout)
        assert inbox.health("acme").backlog == 0
    finally:
        inbox.close()
