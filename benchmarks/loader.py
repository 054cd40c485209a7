"""Event loader throughput: the same inbox of 1,000,000 deliveries drained into the embedded
DuckDB and into a real PostgreSQL (fsync on), side by side in one run, by each loading path.

What is measured is `EventLoader.drain()`, the loop `serve` runs: read a batch from the inbox,
route and type it, load it, mark it loaded. Two paths per destination: the batch appended
straight into the engine (the default: webhooks/loading/appends.py) and a dlt merge on event_id
(`appends=False`, the path of the engines without direct appends). The inbox is filled
beforehand (the receiver's own rate is the webhook benchmark's), and each drain starts from an
identical copy of it. The process's resident memory is sampled during each drain.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
from tests.services.postgres import remove, start_postgres

from benchmarks.harness import machine
from benchmarks.stages import Profile, profiled
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


PATHS = (("direct appends", True), ("dlt merge", False))


@dataclass(frozen=True)
class Drain:
    destination: str
    path: str
    events: int
    seconds: float
    loads: int
    rows: int
    distinct: int
    rss_start: int  # bytes, when the drain started
    rss_first_half: int  # bytes, the most sampled in the first half of the drain
    rss_second_half: int  # ... and in the second: flat memory keeps them alike
    profile: Profile

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


class _Rss:
    """The process's resident memory, sampled every 0.2 s in a thread while it runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self._process.memory_info().rss
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append(self._process.memory_info().rss)

    def __enter__(self) -> _Rss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self._process.memory_info().rss)

    def halves(self) -> tuple[int, int]:
        """The most sampled in the first half of the run, and in the second."""
        middle = len(self.samples) // 2
        return max(self.samples[:middle] or [self.start]), max(self.samples[middle:])


def drain(data_dir: DataDir, name: str, count_rows,  # type: ignore[no-untyped-def]
          path: str = PATHS[0][0], appends: bool = True,
          postgres_root: Path | None = None) -> Drain:
    loader = EventLoader(data_dir, appends=appends)
    with _Rss() as rss, profiled(postgres_root) as profile:
        started = time.monotonic()
        stats = loader.drain()
        seconds = time.monotonic() - started
    loader.close()
    rows, distinct = count_rows()
    return Drain(name, path, stats.events, seconds, stats.loads, rows, distinct, rss.start,
                 *rss.halves(), profile)


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
        for path, appends in PATHS:
            duck = _data_dir(work / "duckdb", inbox, None)
            results.append(drain(duck, "DuckDB (embedded file)", _duckdb_rows(duck), path,
                                 appends))
            shutil.rmtree(duck.root, ignore_errors=True)
        for path, appends in PATHS:
            server = start_postgres(durable=True)  # a fresh database for each path
            try:
                url = server.url()
                pg = _data_dir(work / "postgres", inbox, url)
                results.append(drain(pg, "PostgreSQL 15 (loopback, fsync on)",
                                     _postgres_rows(url), path, appends, server.root))
                shutil.rmtree(pg.root, ignore_errors=True)
            finally:
                remove(server)
        return fill_seconds, results


GOALS = {"DuckDB (embedded file)": 100_000, "PostgreSQL 15 (loopback, fsync on)": 50_000}


def report(count: int, fill_seconds: float, results: Sequence[Drain]) -> str:
    merged = {r.destination: r.rate for r in results if r.path == "dlt merge"}
    lines = [
        "## Event loader: inbox -> warehouse",
        "",
        f"{count:,} realistic deliveries (the sandbox's channel mix) waiting in the inbox, drained "
        "by `EventLoader.drain()` (batches of up to 20,000) into each destination, by each path, "
        f"from an identical copy of the inbox (filled in {fill_seconds:.0f} s). Direct appends: "
        "the batch's Arrow table inserted by the engine with an anti-join on event_id (DuckDB), "
        "or COPY'd after a look-up of the keys already loaded (PostgreSQL); dlt merge: a dlt "
        "load per batch (delete-insert on event_id), the path of the other engines.",
        "",
        "| destination | path | events loaded | time | events/s | vs dlt merge | goal | loads "
        "| rows (distinct) | RSS: start, peak in 1st half, in 2nd half |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        goal = GOALS[r.destination]
        verdict = "-" if r.path != PATHS[0][0] else (
            f"{goal:,}: {'met' if r.rate >= goal else '**missed**'}")
        lines.append(
            f"| {r.destination} | {r.path} | {r.events:,} | {r.seconds:.1f} s | "
            f"**{r.rate:,.0f}** | {r.rate / merged[r.destination]:.2f}x | {verdict} | "
            f"{r.loads} | {r.rows:,} ({r.distinct:,}) | "
            f"{r.rss_start / 2**20:,.0f}, {r.rss_first_half / 2**20:,.0f}, "
            f"{r.rss_second_half / 2**20:,.0f} MiB |")
    lines.append("")
    lines += profile_table(results)
    return "\n".join(lines)


def profile_table(results: Sequence[Drain]) -> list[str]:
    """Microseconds per event by stage (benchmarks/stages.py), and CPU per event by side."""
    columns = [f"{r.destination.split(' ')[0]}, {r.path}" for r in results]
    per_event = [r.profile.per_event_us(r.events) for r in results]
    lines = [
        "Where the time goes, in microseconds per event (each stage timed as it ran, in the "
        "same drains):",
        "",
        "| stage | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for stage in per_event[0]:
        lines.append(f"| {stage} | " + " | ".join(f"{p[stage]:.1f}" for p in per_event) + " |")
    lines.append("| **wall time** | " + " | ".join(
        f"**{r.seconds / r.events * 1e6:.1f}**" for r in results) + " |")
    lines.append("| CPU, this process | " + " | ".join(
        f"{r.profile.cpu / r.events * 1e6:.1f}" for r in results) + " |")
    lines.append("| CPU, PostgreSQL's processes | " + " | ".join(
        "-" if r.profile.server_cpu is None else f"{r.profile.server_cpu / r.events * 1e6:.1f}"
        for r in results) + " |")
    typing = [p["rows: parse, route, type"] + p["Arrow"] for p in per_event]
    lines.append("| wall time without rows and Arrow (the rest's own limit) | " + " | ".join(
        f"{r.seconds / r.events * 1e6 - t:.1f} us: {1e6 / (r.seconds / r.events * 1e6 - t):,.0f}/s"
        for r, t in zip(results, typing, strict=True)) + " |")
    lines += [
        "",
        "The last line is the rate the other stages alone would allow if typing each delivery "
        "cost nothing: below the goals, so no faster typing reaches them. What would: the "
        "inbox read by the engine itself instead of row by row in Python, one \"loaded up to\" "
        "mark per batch instead of a mark per row, and on PostgreSQL a cheaper ingest than a "
        "COPY into a table with a unique index and JSON columns (its own CPU per event is in "
        "the table).",
        "",
    ]
    return lines


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
