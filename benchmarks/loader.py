"""Event loader throughput: the same inbox of 1,000,000 deliveries drained into the embedded
DuckDB and into a real PostgreSQL (fsync on), side by side in one run.

What is measured is `EventLoader.drain()`, the loop `serve` runs: read a batch from the inbox,
route and type it, load it with dlt (merge on event_id), mark it loaded. The inbox is filled
beforehand (the receiver's own rate is the webhook benchmark's), and each destination starts from
an identical copy of it.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from tests.services.postgres import remove, start_postgres

from benchmarks.harness import machine
from benchmarks.webhooks import Events, event_id
from cio_warehouse.configure import configure
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission
from cio_warehouse.webhooks.loader import EventLoader

EVENTS = 1_000_000
SOURCE = "bench"
EVENT_TABLES = ("customer_events", "email_events", "push_events", "sms_events", "in_app_events",
                "slack_events", "webhook_events", "whatsapp_events", "unrouted_events")


@dataclass(frozen=True)
class Drain:
    destination: str
    events: int
    seconds: float
    loads: int
    rows: int
    distinct: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def fill_inbox(path: Path, count: int) -> float:
    """`count` unique deliveries written the receiver's way (group commits of 1,000)."""
    events = Events()
    inbox = Inbox(path)
    started = time.monotonic()
    try:
        for first in range(0, count, 1000):
            n, bodies = events.take(min(1000, count - first))
            now = time.time()
            inbox.write([
                Submission(SOURCE, Kind.EVENT, now, body, event_id(n + i))
                for i, body in enumerate(bodies)
            ])
    finally:
        inbox.close()
    with sqlite3.connect(path) as db:  # one file to copy: fold the WAL in
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.monotonic() - started


def _data_dir(root: Path, inbox: Path, destination: str | None) -> DataDir:
    data_dir = DataDir(root).create()
    shutil.copy(inbox, data_dir.inbox)
    StateStore(data_dir).add_source(SourceConfig(
        SOURCE, "us", Secret("unused"),
        destination=None if destination is None else Secret(destination)))
    return data_dir


def drain(data_dir: DataDir, name: str, count_rows) -> Drain:  # type: ignore[no-untyped-def]
    loader = EventLoader(data_dir)
    started = time.monotonic()
    stats = loader.drain()
    seconds = time.monotonic() - started
    loader.close()
    rows, distinct = count_rows()
    return Drain(name, stats.events, seconds, stats.loads, rows, distinct)


def _union(column: str) -> str:
    return " UNION ALL ".join(
        f"SELECT {column} FROM {SOURCE}.{t}" for t in EVENT_TABLES)


def _duckdb_rows(data_dir: DataDir):  # type: ignore[no-untyped-def]
    def count() -> tuple[int, int]:
        import duckdb

        con = duckdb.connect(str(data_dir.warehouse), read_only=True)
        try:
            present = {r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [SOURCE]).fetchall()}
            parts = [f"SELECT event_id FROM {SOURCE}.{t}" for t in EVENT_TABLES if t in present]
            row = con.execute(
                f"SELECT count(*), count(DISTINCT event_id) FROM ({' UNION ALL '.join(parts)})"
            ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1])
        finally:
            con.close()
    return count


def _postgres_rows(url: str):  # type: ignore[no-untyped-def]
    def count() -> tuple[int, int]:
        con = psycopg2.connect(url)
        try:
            with con.cursor() as cursor:
                cursor.execute("SELECT table_name FROM information_schema.tables"
                               " WHERE table_schema = %s", [SOURCE])
                present = {r[0] for r in cursor.fetchall()}
                parts = [f"SELECT event_id FROM {SOURCE}.{t}" for t in EVENT_TABLES
                         if t in present]
                cursor.execute(f"SELECT count(*), count(DISTINCT event_id) FROM"
                               f" ({' UNION ALL '.join(parts)}) AS e")
                row = cursor.fetchone()
                assert row is not None
                return int(row[0]), int(row[1])
        finally:
            con.close()
    return count


def measure(count: int = EVENTS) -> tuple[float, list[Drain]]:
    with tempfile.TemporaryDirectory(prefix="cio-bench-loader-") as tmp:
        work = Path(tmp)
        inbox = work / "inbox.db"
        fill_seconds = fill_inbox(inbox, count)
        results = []
        duck = _data_dir(work / "duckdb", inbox, None)
        results.append(drain(duck, "DuckDB (embedded file)", _duckdb_rows(duck)))
        shutil.rmtree(duck.root)
        server = start_postgres(durable=True)
        try:
            url = server.url()
            pg = _data_dir(work / "postgres", inbox, url)
            results.append(drain(pg, "PostgreSQL 15 (loopback, fsync on)", _postgres_rows(url)))
        finally:
            remove(server)
        return fill_seconds, results


def report(count: int, fill_seconds: float, results: Sequence[Drain]) -> str:
    base = results[0].rate
    lines = [
        "## Event loader: inbox -> warehouse",
        "",
        f"{count:,} realistic deliveries (the sandbox's channel mix) waiting in the inbox, drained "
        "by `EventLoader.drain()` (batches of up to 20,000, dlt merge on event_id) into each "
        f"destination from an identical copy of the inbox (filled in {fill_seconds:.0f} s).",
        "",
        "| destination | events loaded | time | events/s | vs DuckDB | loads | rows (distinct) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.destination} | {r.events:,} | {r.seconds:.1f} s | **{r.rate:,.0f}** | "
            f"{r.rate / base:.2f}x | {r.loads} | {r.rows:,} ({r.distinct:,}) |")
    lines.append("")
    return "\n".join(lines)


def run(count: int = EVENTS) -> str:
    fill_seconds, results = measure(count)
    return report(count, fill_seconds, results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Event loader throughput, DuckDB vs PostgreSQL.")
    parser.add_argument("--events", type=int, default=EVENTS)
    args = parser.parse_args(argv)
    configure()
    print(f"Machine: {machine()}\n")
    print(run(args.events))


if __name__ == "__main__":
    main()
