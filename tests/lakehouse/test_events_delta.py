"""Webhook events into Delta Lake: the inbox drained by the event loader (an upsert on event_id),
replays included, read back by deltalake and by the tests' own Delta log reader."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.load.load import Load

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.warehouse import dlt_fixes
from cio_warehouse.webhooks.inbox import Inbox, Kind, Result, Submission
from cio_warehouse.webhooks.loader import EventLoader
from tests.webhooks_loader.builders import spec_events
from tests.webhooks_loader.conftest import event

from . import delta_log
from .conftest import SOURCE, read_delta, table_dir, use_delta


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def delta_source(store: StateStore, lake: Path) -> SourceConfig:
    """A source loading into Delta; the loader needs no Customer.io for events."""
    source = SourceConfig(name=SOURCE, region="us", app_api_key=Secret("sbx_unused"))
    store.add_source(source)
    return use_delta(store, source, lake)


@pytest.fixture
def loader(data_dir: DataDir, delta_source: SourceConfig) -> Iterator[EventLoader]:
    el = EventLoader(data_dir)  # each source's own destination: this one's is Delta
    yield el
    el.close()


def deliver(inbox: Inbox, payloads: Iterable[dict[str, Any]]) -> list[Result]:
    """What the receiver writes once a delivery's signature checked out: its raw body by
    event_id, in one group commit."""
    return inbox.write([
        Submission(SOURCE, Kind.EVENT, time.time(), json.dumps(p).encode(), p["event_id"])
        for p in payloads
    ])


def event_tables(lake: Path) -> set[str]:
    return {p.name for p in (lake / SOURCE).iterdir()
            if (p / "_delta_log").is_dir() and not p.name.startswith("_dlt")}


def test_each_event_id_is_one_row_after_replays(
    lake: Path, inbox: Inbox, loader: EventLoader
) -> None:
    table_of: dict[str, str] = {}  # event_id -> the table it routes to
    payloads = []
    for spec in spec_events():  # one of every event Customer.io's spec documents
        customer = spec.family == "customer_event"
        table_of[spec.payload["event_id"]] = (
            "customer_events" if customer else f"{spec.object_type}_events"
        )
        payloads.append(spec.payload)
    for _ in range(200):
        payloads.append(event())
        table_of[payloads[-1]["event_id"]] = "email_events"
    assert set(deliver(inbox, payloads)) == {Result.STORED}
    first = loader.drain()
    assert first.events == len(payloads) and first.dead_letters == 0

    # Customer.io retries for 7 days; the inbox forgets loaded rows after 8: a retry it no longer
    # recognises reaches the warehouse again, with events never seen before.
    assert inbox.prune(now=time.time() + 9 * 24 * 3600) == len(payloads)
    replayed = payloads[::3] + [event("sms", "delivered") for _ in range(10)]
    for p in replayed[-10:]:
        table_of[p["event_id"]] = "sms_events"
    assert set(deliver(inbox, replayed)) == {Result.STORED}
    assert loader.drain().events == len(replayed)

    expected = Counter(table_of.values())
    assert event_tables(lake) == set(expected)
    for table, n in expected.items():
        ids = {i for i, t in table_of.items() if t == table}
        for rows in (read_delta(lake, table), delta_log.read(table_dir(lake, table))):
            got = rows.column("event_id").to_pylist()
            assert len(got) == n and set(got) == ids, table


def test_loads_into_existing_tables_are_merges_on_event_id(
    lake: Path, inbox: Inbox, loader: EventLoader
) -> None:
    first, again = event("email", "sent"), event("email", "opened")
    deliver(inbox, [first])
    loader.drain()
    inbox.prune(now=time.time() + 9 * 24 * 3600)
    deliver(inbox, [first, again])
    loader.drain()
    commits = delta_log.commits(table_dir(lake, "email_events"))
    operations = [c.of("commitInfo")[0]["operation"] for c in commits]
    assert operations == ["WRITE", "MERGE"]  # created by the first load, merged into after
    assert sorted(read_delta(lake, "email_events").column("event_id").to_pylist()) == sorted(
        [first["event_id"], again["event_id"]]
    )


def test_event_columns_keep_their_types(lake: Path, inbox: Inbox, loader: EventLoader) -> None:
    clicked = event("email", "clicked", campaign_id=7, href="https://x", machine=False)
    deliver(inbox, [clicked])
    loader.drain()
    rows = read_delta(lake, "email_events")
    schema = rows.schema
    assert str(schema.field("timestamp").type) == str(schema.field("received_at").type)
    assert schema.field("timestamp").type.tz == "UTC"
    assert str(schema.field("campaign_id").type) == "int64"
    assert str(schema.field("machine").type) == "bool"
    row = rows.to_pylist()[0]
    assert row["timestamp"].timestamp() == clicked["timestamp"]
    assert json.loads(row["data"])["href"] == "https://x"  # JSON text: Delta has no JSON type


def test_a_body_that_is_not_an_event_lands_in_the_dead_letters(
    lake: Path, inbox: Inbox, loader: EventLoader
) -> None:
    inbox.write([Submission(SOURCE, Kind.EVENT, time.time(), b"{not json", "E-broken")])
    deliver(inbox, [event()])
    stats = loader.drain()
    assert stats.events == 1 and stats.dead_letters == 1
    dead = read_delta(lake, "webhook_dead_letters").to_pylist()
    assert [(d["event_id"], d["body"]) for d in dead] == [("E-broken", "{not json")]


def test_delta_loads_poll_their_jobs_promptly(
    lake: Path, inbox: Inbox, loader: EventLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt's loader would idle 1 s per load into Delta (dlt_fixes.prompt_delta_loads): the
    attribute it waits on must still exist in this dlt, and be set short for Delta only."""
    seen = _load_polls(monkeypatch)
    deliver(inbox, [event()])
    loader.drain()
    assert seen == [dlt_fixes.DELTA_JOB_POLL_SECONDS]


def _load_polls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The job poll of every dlt load from now on."""
    seen: list[object] = []
    run = Load.run

    def spy(self: Load, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(self, "_run_loop_sleep_duration", None))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Load, "run", spy)
    return seen


def test_other_destinations_keep_dlts_poll(
    data_dir: DataDir, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _load_polls(monkeypatch)
    deliver(inbox, [event()])  # no source stored: the data dir's DuckDB
    el = EventLoader(data_dir)
    try:
        el.drain()
    finally:
        el.close()
    assert len(seen) == 1 and seen[0] != dlt_fixes.DELTA_JOB_POLL_SECONDS  # dlt's own
