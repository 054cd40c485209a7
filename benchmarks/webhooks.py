"""Webhook receiver: durable acks/s and ack latency beside a bare handler, idle and under load;
and the two inboxes side by side (the data dir's SQLite file, a shared PostgreSQL database)."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psutil
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.services.postgres import PostgresServer, remove, start_postgres

from benchmarks.harness import (
    CpuTimes,
    Served,
    cli,
    cpu_times,
    fresh_dir,
    machine,
    machine_load,
    run_timed,
    sandbox_process,
    serve_process,
    settle,
)
from benchmarks.loadgen import (
    LoadResult,
    open_loop_result,
    run_open_loop,
    run_wrk,
    write_requests,
)
from cio_warehouse import catalog
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.workspace import Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks import receiver_process
from cio_warehouse.webhooks.inbox import ENV_INBOX
from cio_warehouse.webhooks.published_keys import KeyPublisher
from cio_warehouse.webhooks.receiver import WEBHOOK_PATH

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "bench"
# small x 1200: ~300,000 newsletters and ~290,000 sender identities. Unpaced, a full refresh of
# it outlasts the loaded phase on 2 shared cores; the loop starts another if it does not.
SYNC_SCALE = 1200
MAX_RATE_SECONDS = 10
WRK_THREADS = 2
WRK_CONNECTIONS = 32
FIXED_RATE = 2000  # events/s offered, open loop
FIXED_SECONDS = 10
FIXED_CONNECTIONS = 64  # far more than 2,000/s x a few ms needs: a slow ack never blocks the next
# The goals of the issue.
GOAL_RATIO = 0.60
GOAL_P99_MS = 25.0
API_TABLES = [t.name for t in catalog.API_TABLES]
# Heavy on purpose: a join of every event row with a generated table, grouped; ~1 s on 2 cores.
HEAVY_ROWS = 200


def event_id(n: int) -> str:
    """ULID-sized and sortable by n, so that a range of them is one BETWEEN."""
    return f"01JBENCH{n:018d}"


class Events:
    """Realistic deliveries (the sandbox's seeded stream: its channel mix and payload shapes),
    each copy given a fresh event_id so that every one is a new row."""

    def __init__(self, templates: int = 2000) -> None:
        stream = DeliveryGenerator(Workspace()).events(templates)
        self._templates: list[tuple[bytes, bytes]] = [
            (e.event_id.encode(), e.to_bytes(False)) for e in stream]
        self.mean_bytes = sum(len(b) for _, b in self._templates) / len(self._templates)
        self.issued = 0

    def take(self, count: int) -> tuple[int, list[bytes]]:
        """The next `count` unique events, and the number of the first."""
        first = self.issued
        self.issued += count
        return first, [self._body(n) for n in range(first, first + count)]

    def sample(self, count: int) -> list[bytes]:
        """Bodies for the bare handler, which stores nothing: ids may repeat."""
        return [self._body(n) for n in range(count)]

    def _body(self, n: int) -> bytes:
        old, body = self._templates[n % len(self._templates)]
        return body.replace(old, event_id(n).encode())


# -- the bare handler: the ceiling ---------------------------------------------------------------


def _serve_bare() -> None:
    """The receiver process's own uvicorn server (build_server), with a handler that only
    answers 200 in place of the receiver app: only the handler differs between the two."""
    async def ok(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    def bare_app(data_dir: DataDir, settings: object = None, inbox: object = None) -> Starlette:
        return Starlette(routes=[Route(WEBHOOK_PATH, ok, methods=["POST"])])

    receiver_process.create_receiver_app = bare_app
    scratch = Path(tempfile.mkdtemp(prefix="cio-bench-bare-"))
    try:
        receiver_process.serve(receiver_process.build_server(DataDir(scratch), "127.0.0.1", 0))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Server:
    url: str  # the webhook URL of source `bench`
    pid: int  # the process that serves it, for its CPU times


@contextmanager
def _server_process(args: Sequence[str], env: dict[str, str] | None = None
                    ) -> Iterator[Server]:
    """A server in a process of its own that prints {"url": ...} once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        base = json.loads(proc.stdout.readline())["url"]
        yield Server(f"{base}/webhooks/customerio/{SOURCE}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def bare_process() -> AbstractContextManager[Server]:
    return _server_process(["benchmarks.webhooks", "--bare"])


# -- the service: a source with a signing key, the API, the inbox --------------------------------


class Api:
    """The running service's JSON API, as the CLI calls it (bearer token from service.json)."""

    def __init__(self, served: Served) -> None:
        self.client = httpx.Client(base_url=served.api_url, timeout=120,
                                   headers={"Authorization": f"Bearer {served.token}"})

    def query(self, sql: str) -> list[list[Any]]:
        response = self.client.post("/api/v1/query", json={"sql": sql, "max_rows": 100_000})
        response.raise_for_status()
        rows: list[list[Any]] = response.json()["rows"]
        return rows

    def event_union(self, columns: str = "event_id") -> str:
        """Every event table the loader made so far, as one relation."""
        tables = [r[0] for r in self.query(
            "select table_name from information_schema.tables where table_schema = "
            f"'{SOURCE}' and table_name like '%\\_events' escape '\\'")]
        return " union all ".join(f"select {columns} from {SOURCE}.{t}" for t in sorted(tables))


def _link_source(data_dir: Path, url: str, key: str, *options: str) -> str:
    """The sandbox as source `bench` (`source add` with `options`); a fresh signing key saved
    as the CLI would.

    Only the webhook tables are selected: serve's scheduler would otherwise start a full refresh
    of the never-synced API tables at once, in the idle phase. The loaded phase asks for them.
    """
    env = {**os.environ, "CIO_APP_API_KEY": key}
    run_timed(cli(data_dir, "source", "add", SOURCE, "--api-base-url", url, *options), env)
    store = StateStore(DataDir(data_dir))
    signing_key = secrets.token_hex(32)
    store.update_source(replace(
        store.get_source(SOURCE), signing_key=Secret(signing_key),
        tables=tuple(t.name for t in catalog.WEBHOOK_TABLES)))
    return signing_key


def _inbox(data_dir: Path) -> tuple[int, int, int]:
    """(stored, duplicates, not yet loaded) from the receiver's inbox, read-only."""
    with sqlite3.connect(f"file:{data_dir / 'inbox.db'}?mode=ro", uri=True) as db:
        counters = dict(db.execute("select counter, value from health where source = ?",
                                   (SOURCE,)).fetchall())
        backlog = db.execute("select count(*) from events where loaded_at is null").fetchone()[0]
    db.close()
    return counters.get("stored", 0), counters.get("duplicates", 0), backlog


def _wait_loaded(data_dir: Path, timeout: float = 90) -> float:
    """Let the loader drain what a max-rate run left, so that the next run starts level."""
    started = time.monotonic()
    while _inbox(data_dir)[2] and time.monotonic() - started < timeout:
        time.sleep(0.5)
    return time.monotonic() - started


# -- the work that competes: a full refresh in a loop, a heavy query in a loop -------------------


@dataclass
class QueryLoop:
    """One SQL-box user: its queries back to back, in turn."""

    sqls: list[str]
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Background:
    """A sync of `tables` through the service's API, started again whenever one finishes, and
    each query loop's SQL through `POST /api/v1/query`, each in a thread here."""

    def __init__(self, served: Served, tables: Sequence[str], loops: Sequence[QueryLoop],
                 sync: bool = True) -> None:
        self._served = served
        self._tables = list(tables)
        self.loops = list(loops)
        self._stop = threading.Event()
        self._sync = sync
        self._threads = [threading.Thread(target=self._sync_loop, daemon=True)] + [
            threading.Thread(target=self._query_loop, args=(loop,), daemon=True)
            for loop in self.loops]
        self.syncs_finished = self.synced_rows = self.rows_in_progress = 0
        self.sync_errors: list[str] = []

    def __enter__(self) -> Background:
        self._threads[0].start()
        return self

    def start_queries(self) -> None:  # once the sync is under way
        for thread in self._threads[1:]:
            thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=300)

    def _sync_loop(self) -> None:
        api = Api(self._served)
        while self._sync and not self._stop.is_set():
            response = api.client.post(f"/api/v1/sources/{SOURCE}/sync",
                                       json={"tables": self._tables})
            if response.status_code != 202:
                self.sync_errors.append(response.text)
                self._stop.wait(1.0)
                continue
            job = response.json()
            while not self._stop.wait(0.5):
                job = api.client.get(f"/api/v1/jobs/{job['id']}").json()
                self.rows_in_progress = sum(p["rows"] for p in job["progress"])
                if job["finished_at"] is not None:
                    self.rows_in_progress = 0
                    self.syncs_finished += 1
                    self.synced_rows += sum(o["rows"] or 0 for o in job["outcomes"] or [])
                    if job["error"]:
                        self.sync_errors.append(job["error"])
                    break

    def _query_loop(self, loop: QueryLoop) -> None:
        api = Api(self._served)
        for sql in itertools.cycle(loop.sqls):
            if self._stop.is_set():
                return
            started = time.monotonic()
            try:
                api.query(sql)
            except httpx.HTTPError as exc:  # counted, and the load goes on
                detail = getattr(getattr(exc, "response", None), "text", "")
                loop.errors.append(f"{exc} {detail}"[:300])
                self._stop.wait(1.0)
                continue
            loop.seconds.append(time.monotonic() - started)

    def syncing(self) -> bool:
        """True once the first sync has fetched rows (past its start-up)."""
        return not self._sync or self.syncs_finished > 0 or self.rows_in_progress > 0

    @property
    def synced(self) -> int:
        return self.synced_rows + self.rows_in_progress



def _heavy_sql(api: Api) -> str:
    union = api.event_union("event_id, object_type, metric, identifier_id")
    return (
        f"select e.object_type, e.metric, count(*) as n, count(distinct e.identifier_id) as people,"
        f" sum(hash(e.event_id || g.range::varchar) % 1000) as h"
        f" from ({union}) e, range({HEAVY_ROWS}) g group by all order by n desc"
    )


# -- the measurements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One load run, and what the serving process spent on it."""

    load: LoadResult
    cpu: CpuTimes

    @property
    def cpu_us_per_ack(self) -> float:
        return self.cpu.running / max(self.load.ok, 1) * 1e6

    @property
    def starved(self) -> float:
        """Of the time its threads wanted a CPU, the share they waited for one."""
        total = self.cpu.running + self.cpu.waiting
        return self.cpu.waiting / total if total else math.nan


@dataclass
class Condition:
    """Every figure of one condition (idle, or during the sync and the query)."""

    bare: Run
    receiver: Run
    fixed: Run
    fixed_lag_p99_ms: float


def _max_rate(server: Server, bodies: Sequence[bytes], key: str, work: Path,
              seconds: float = MAX_RATE_SECONDS) -> Run:
    per_thread = math.ceil(len(bodies) / WRK_THREADS)
    prefix = work / f"wrk-{time.monotonic_ns()}"
    for t in range(WRK_THREADS):
        write_requests(prefix.with_name(f"{prefix.name}.{t}"),
                       bodies[t * per_thread:(t + 1) * per_thread], key)
    before = cpu_times(server.pid)
    load = run_wrk(server.url, prefix, threads=WRK_THREADS, connections=WRK_CONNECTIONS,
                   seconds=seconds)
    return Run(load, cpu_times(server.pid) - before)


def _fixed_rate(server: Server, events: Events, key: str, work: Path, rate: float,
                seconds: float) -> tuple[Run, dict[str, Any]]:
    first, bodies = events.take(int(rate * seconds))
    requests = write_requests(work / f"open-{first}.tsv", bodies, key)
    before = cpu_times(server.pid)
    raw = run_open_loop(server.url, requests, rate=rate, connections=FIXED_CONNECTIONS)
    return Run(open_loop_result(raw), cpu_times(server.pid) - before), raw


def _receiver_pid(served: Served) -> int:
    for child in psutil.Process(served.pid).children():
        if "receiver_process" in " ".join(child.cmdline()):
            return int(child.pid)
    raise RuntimeError("no receiver process under serve")


def _measure(served: Served, bare: Server, data_dir: Path, api: Api, events: Events, key: str,
             work: Path, label: str) -> Condition:
    receiver = Server(f"{served.receiver_url}/webhooks/customerio/{SOURCE}",
                      _receiver_pid(served))
    print(f"  {label}: bare handler at max rate ...", flush=True)
    bare_run = _max_rate(bare, events.sample(40_000), key, work)
    # Enough unique events for the receiver to run as fast as the bare handler did.
    _, bodies = events.take(int(bare_run.load.rate * MAX_RATE_SECONDS * 1.1) + 10_000)
    print(f"  {label}: receiver at max rate ...", flush=True)
    receiver_run = _max_rate(receiver, bodies, key, work)
    waited = _wait_loaded(data_dir)
    print(f"  {label}: loader drained the backlog in {waited:.1f} s; "
          f"{FIXED_RATE}/s open loop ...", flush=True)
    fixed, raw = _fixed_rate(receiver, events, key, work, FIXED_RATE, FIXED_SECONDS)
    return Condition(bare_run, receiver_run, fixed, float(raw["lag_p99_ms"]))


def measure() -> dict[str, Any]:
    data_dir = fresh_dir()
    work = Path(tempfile.mkdtemp(prefix="cio-bench-load-"))
    try:
        with machine_load() as machine:
            events = Events()
            with (sandbox_process("--scale", str(SYNC_SCALE), "--rate-limit-rps", "off") as sb,
                  bare_process() as bare):
                key = _link_source(data_dir, sb.url, sb.key, "--max-rps", "0")
                with serve_process(data_dir) as served:
                    api = Api(served)
                    idle = _measure(served, bare, data_dir, api, events, key, work, "idle")
                    heavy = QueryLoop([_heavy_sql(api)])
                    with Background(served, API_TABLES, [heavy]) as background:
                        background.start_queries()
                        deadline = time.monotonic() + 60
                        while not background.syncing() and time.monotonic() < deadline:
                            time.sleep(0.5)  # into its stride: past start-up, fetching pages
                        loaded = _measure(served, bare, data_dir, api, events, key, work,
                                          "during sync+query")
                    _wait_loaded(data_dir)
                    stored, duplicates, _ = _inbox(data_dir)
                    rows = api.query(f"select count(*), count(distinct event_id) from "
                                     f"({api.event_union()})")[0]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "idle": idle, "loaded": loaded, "machine": machine,
        "syncs": background.syncs_finished,
        "synced_rows": background.synced,
        "sync_errors": background.sync_errors, "queries": heavy.seconds,
        "query_errors": heavy.errors,
        "mean_bytes": events.mean_bytes, "stored": stored, "duplicates": duplicates,
        "rows": rows,
    }


# -- the inboxes side by side --------------------------------------------------------------------


@contextmanager
def receiver_on(data_dir: Path, inbox_url: str | None) -> Iterator[Server]:
    """The receiver process alone (as `cio-warehouse receive` runs it) on the data dir's
    inbox.db, or on the shared inbox at `inbox_url` (given by the environment, as in production)."""
    env = {k: v for k, v in os.environ.items() if k != ENV_INBOX}
    if inbox_url is not None:
        env[ENV_INBOX] = inbox_url
    with _server_process(["cio_warehouse.webhooks.receiver_process", "--data-dir",
                          str(data_dir), "--port", "0"], env) as server:
        yield server


def _postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster and its processes (a backend
    per connection, the WAL writer, the checkpointer ...)."""
    pid = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    pids = [pid, *(child.pid for child in psutil.Process(pid).children())]
    return sum(cpu_times(p).running for p in pids)


@dataclass
class InboxRuns:
    max_rate: Run
    fixed: Run
    fixed_lag_p99_ms: float
    server_cpu_us_per_ack: float  # PostgreSQL's own CPU; 0 for SQLite (inside the receiver)


def measure_inboxes(seconds: float = MAX_RATE_SECONDS,
                    fixed_seconds: float = FIXED_SECONDS) -> dict[str, Any]:
    """One receiver process on each inbox, the same load on each, one after the other in one
    run: max rate (wrk), then a fixed rate (open loop). No loader runs: only the acks count.
    PostgreSQL runs on this machine, durable (fsync and synchronous_commit on)."""
    pg = start_postgres(durable=True)
    data_dir = fresh_dir()
    work = Path(tempfile.mkdtemp(prefix="cio-bench-inbox-"))
    key = secrets.token_hex(32)
    try:
        store = StateStore(DataDir(data_dir))
        store.add_source(SourceConfig(name=SOURCE, region="us", app_api_key=Secret("unused"),
                                      signing_key=Secret(key)))
        url = pg.create_database("inbox")
        publisher = KeyPublisher(store, Secret(url))  # what `serve` does on a shared inbox
        publisher.publish()
        publisher.stop()
        events = Events()
        runs: dict[str, InboxRuns] = {}
        with receiver_on(data_dir, None) as on_sqlite, receiver_on(data_dir, url) as on_pg:
            servers = {"SQLite (the data dir's inbox.db)": on_sqlite,
                       "PostgreSQL (shared)": on_pg}
            max_runs: dict[str, tuple[Run, float]] = {}
            for name, server in servers.items():
                print(f"  inboxes: {name} at max rate ...", flush=True)
                _, bodies = events.take(int(8000 * seconds) + 5000)
                before = _postgres_cpu(pg)
                run = _max_rate(server, bodies, key, work, seconds)
                max_runs[name] = (run, _postgres_cpu(pg) - before)
            for name, server in servers.items():
                print(f"  inboxes: {name} at {FIXED_RATE}/s ...", flush=True)
                fixed, raw = _fixed_rate(server, events, key, work, FIXED_RATE, fixed_seconds)
                run, pg_cpu = max_runs[name]
                runs[name] = InboxRuns(
                    run, fixed, float(raw["lag_p99_ms"]),
                    0.0 if server is on_sqlite else pg_cpu / max(run.load.ok, 1) * 1e6)
    finally:
        remove(pg)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return {"runs": runs, "seconds": seconds, "fixed_seconds": fixed_seconds,
            "mean_bytes": events.mean_bytes}


def inbox_report(m: dict[str, Any]) -> str:
    runs: dict[str, InboxRuns] = m["runs"]
    sqlite_rate = next(iter(runs.values())).max_rate.load.rate
    lines = [
        "## Webhook inbox: SQLite beside PostgreSQL (`benchmarks/webhooks.py`)",
        "",
        "One receiver process (`cio-warehouse receive`) on each inbox, measured one after the "
        "other in the same run with the same deliveries (unique signed events, "
        f"~{m['mean_bytes']:.0f} bytes): the data dir's `inbox.db` (SQLite, WAL, "
        "synchronous=FULL), and a shared inbox in PostgreSQL on this same machine (fsync and "
        "synchronous_commit on). No loader runs. Max rate: wrk "
        f"(-t{WRK_THREADS} -c{WRK_CONNECTIONS}, {m['seconds']:g} s, closed loop); fixed rate: "
        f"{FIXED_RATE:,} events/s for {m['fixed_seconds']:g} s, open loop. The load generators "
        "and PostgreSQL share the machine's cores with the receiver.",
        "",
        "| inbox | durable acks/s | of SQLite's | p50 | p99 | receiver CPU per ack "
        "| PostgreSQL CPU per ack | at 2,000/s: p50 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        load, fixed = r.max_rate.load, r.fixed.load
        pg_cpu = f"{r.server_cpu_us_per_ack:.0f} us" if r.server_cpu_us_per_ack else "-"
        lines.append(
            f"| {name} | {load.rate:,.0f} | {load.rate / sqlite_rate:.0%} | "
            f"{_ms(load.p50_ms)} | {_ms(load.p99_ms)} | {r.max_rate.cpu_us_per_ack:.0f} us | "
            f"{pg_cpu} | {_ms(fixed.p50_ms)} | {_ms(fixed.p99_ms)} | {_ms(fixed.max_ms)} |")
    lines += [
        "",
        "A shared inbox is for receivers on several machines behind a load balancer "
        "(docs/deployment.md): on one machine it adds PostgreSQL's work to the receiver's "
        "cores; across machines each receiver brings its own.",
        "",
    ]
    return "\n".join(lines)


# -- the report ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"



def report(m: dict[str, Any]) -> str:
    idle: Condition = m["idle"]
    loaded: Condition = m["loaded"]
    conditions = (("idle", idle), ("during sync+query", loaded))
    ratio = idle.receiver.load.rate / idle.bare.load.rate
    ratio_loaded = loaded.receiver.load.rate / loaded.bare.load.rate
    queries = m["queries"]
    mean_query = sum(queries) / len(queries) if queries else math.nan
    lines = [
        "## Webhook receiver (`benchmarks/webhooks.py`)",
        "",
        "`cio-warehouse serve` with a real data dir and signing key; every delivery a unique, "
        f"signed event of the sandbox's channel mix (~{m['mean_bytes']:.0f} bytes). The bare "
        "handler is the receiver process's own uvicorn server (uvloop, httptools, one worker, "
        "access log off) with a handler that only answers 200, in its own process. Max rate: wrk "
        f"(-t{WRK_THREADS} -c{WRK_CONNECTIONS}, {MAX_RATE_SECONDS} s, closed loop, keep-alive). "
        f"Fixed rate: an asyncio raw-socket client in its own process, open loop, "
        f"{FIXED_CONNECTIONS} keep-alive connections, latency from each request's scheduled "
        "time. **The load generators share the machine's cores with the servers**, and so did "
        f"any other work on it: {m['machine'].sentence()}",
        "",
        "| server | condition | durable acks/s | p50 | p99 | of the bare handler's rate "
        "| CPU per ack | waiting for a CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, cond in conditions:
        for server, r in (("bare handler", cond.bare), ("receiver", cond.receiver)):
            share = r.load.rate / cond.bare.load.rate
            lines.append(
                f"| {server} | {name} | {r.load.rate:,.0f} | {_ms(r.load.p50_ms)} | "
                f"{_ms(r.load.p99_ms)} | {share:.0%} | {r.cpu_us_per_ack:.0f} us | "
                f"{r.starved:.0%} |")
    lines += [
        "",
        f"Receiver / bare handler, idle: **{ratio:.0%}** (goal >= {GOAL_RATIO:.0%}: "
        f"{_met(ratio >= GOAL_RATIO)}); during the sync and the query: {ratio_loaded:.0%}. "
        "CPU per ack: the serving process's CPU time (all its threads) over its 2xx answers; "
        "waiting for a CPU: of the time its threads were runnable, the share spent on the run "
        "queue.",
        "",
        f"Ack latency at a fixed {FIXED_RATE:,} events/s offered for {FIXED_SECONDS} s "
        "(open loop):",
        "",
        f"| condition | acked | p50 | p99 (goal <= {GOAL_P99_MS:.0f} ms) | max | "
        "receiver waiting for a CPU | load generator's own lateness, p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, cond in conditions:
        f = cond.fixed.load
        lines.append(
            f"| {name} | {f.ok:,} of {f.ok + f.failed:,} | {_ms(f.p50_ms)} | "
            f"**{_ms(f.p99_ms)}** ({_met(f.p99_ms <= GOAL_P99_MS)}) | {_ms(f.max_ms)} | "
            f"{cond.fixed.starved:.0%} | {_ms(cond.fixed_lag_p99_ms)} |")
    errors = f"; sync errors: {m['sync_errors'][0]}" if m["sync_errors"] else ""
    query_errors = f", {len(m['query_errors'])} failed" if m["query_errors"] else ""
    lines += [
        "",
        f"During sync+query: a full refresh of the sandbox (small x {SYNC_SCALE}, unpaced: "
        "`--max-rps 0`, rate limit off, so CPU-bound) through "
        f"`POST /api/v1/sources/{SOURCE}/sync`, started again whenever one finished "
        f"({m['syncs']} finished, {m['synced_rows']:,} rows fetched{errors}), and a join of "
        f"every event row with a {HEAVY_ROWS}-row generated table, grouped, through "
        f"`POST /api/v1/query`, back to back ({len(queries)} runs, {mean_query:.1f} s each"
        f"{query_errors}). "
        f"After the run the inbox held {m['stored']:,} events ({m['duplicates']:,} duplicates) "
        f"and the warehouse {m['rows'][0]:,} event rows, "
        f"{m['rows'][1]:,} distinct.",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    loaded = report(measure())
    settle()
    return loaded + "\n" + inbox_report(measure_inboxes())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=f"{__doc__} Run from the repository: python -m benchmarks.webhooks")
    parser.add_argument("--bare", action="store_true", help="serve the bare handler and exit")
    parser.add_argument("--inboxes", action="store_true",
                        help="only the inboxes side by side (prints; writes nothing)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="with --inboxes: seconds per load run (a short smoke run)")
    parser.add_argument("--event-to-queryable", action="store_true",
                        help="only event to queryable (benchmarks/event_to_queryable.py)")
    args = parser.parse_args(argv)
    if args.bare:
        _serve_bare()
        return
    if args.event_to_queryable:
        from benchmarks import event_to_queryable  # it builds on this module

        event_to_queryable.main([])
        return
    if args.inboxes:
        seconds = args.seconds or MAX_RATE_SECONDS
        print(f"Machine: {machine()}\n")
        print(inbox_report(measure_inboxes(seconds, args.seconds or FIXED_SECONDS)))
        return
    print(f"Machine: {machine()}\n")
    print(run())


if __name__ == "__main__":
    main()
