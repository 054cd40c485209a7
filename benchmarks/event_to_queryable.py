"""Event to queryable: from a webhook delivery's ack to the first answer of the service's query
API that holds it, idle and while a paced sync loops and the SQL box is in use. Run: `python
benchmarks/event_to_queryable.py` (or `benchmarks/webhooks.py --event-to-queryable`)."""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    BIN,
    CpuTimes,
    Served,
    fresh_dir,
    machine,
    machine_load,
    sandbox_process,
    serve_process,
)
from benchmarks.webhooks import (
    HEAVY_ROWS,
    SOURCE,
    Api,
    Background,
    Events,
    QueryLoop,
    Server,
    _fixed_rate,
    _heavy_sql,
    _inbox,
    _link_source,
    _max_rate,
    _receiver_pid,
    _wait_loaded,
    event_id,
)
from cio_warehouse import catalog

RATE = 200  # events/s offered, open loop
SECONDS = 20
POLL_SECONDS = 0.1
GOAL_P95_S = 1.0
# The events the heavy query joins: about what the receiver's benchmark leaves behind.
SEED_EVENTS = 250_000
# The sync: every App API table at small x 80 (~390 requests, as benchmarks/full_refresh.py)
# and message history over 30 days at one delivery per 2.592 s (~1,000,000 deliveries, ~1,000
# requests, as benchmarks/history.py), paced at Customer.io's 10 requests a second, against the
# sandbox with its 10 rps limit on and 50 ms of latency a request.
SYNC_SCALE = 80
HISTORY_DAYS = 30
DELIVERY_GAP_MS = 2_592
LATENCY_MS = 50
SYNC_TABLES = [t.name for t in catalog.SYNCED_TABLES]


def _dashboard_sql(api: Api) -> list[str]:
    """What the data page asks (activity per day, channel and metric; funnels per campaign),
    and a count of the last minute's events, as SQL-box text over `deliveries`."""
    union = api.event_union("received_at")
    reached = " or ".join(f"{m}_at is not null" for m in ("delivered", "opened", "clicked"))
    return [
        f"select cast(sent_at as date) as day, channel, count(*) as sent,"
        f" count(opened_at) as opened, count(clicked_at) as clicked"
        f" from {SOURCE}.deliveries where sent_at >= now() - interval 30 day"
        f" group by all order by all",
        f"select campaign_id, count(*) as sent, count(*) filter (where {reached}) as delivered,"
        f" count(*) filter (where opened_at is not null or clicked_at is not null) as opened,"
        f" count(clicked_at) as clicked from {SOURCE}.deliveries"
        f" where campaign_id is not null group by 1 order by 2 desc limit 50",
        f"select count(*) from ({union}) where received_at >= now() - interval 1 minute",
    ]


@dataclass(frozen=True)
class Latency:
    """Event to queryable in one condition, and the polls that measured it."""

    p50_s: float
    p95_s: float
    max_s: float
    seen: int
    acked: int
    polls: list[float]  # each poll's round trip through the query API, seconds
    # The same events from received to marked loaded, right after the commit (the inbox's times)
    loaded_p50_s: float
    loaded_p95_s: float
    loader_cpu: CpuTimes  # the loader's thread meanwhile: on a CPU, and runnable waiting for one


@dataclass(frozen=True)
class Rig:
    """What one measurement sends to and reads from."""
    server: Server  # serve's receiver
    api: Api
    events: Events
    key: str  # the signing key
    work: Path  # request files
    data_dir: Path
    loader: str  # the loader thread's schedstat file


def measure_latency(rig: Rig, rate: float = RATE, seconds: float = SECONDS) -> Latency:
    """From each event's ack (the load generator's clock: CLOCK_MONOTONIC, one for every
    process) to the answer of the first poll of the query API that returned it; so each figure
    is an upper bound, by at most one poll."""
    server, api, events, key, work = rig.server, rig.api, rig.events, rig.key, rig.work
    first = events.issued
    lo, hi = event_id(first), event_id(first + int(rate * seconds) - 1)
    sql = f"select event_id from ({api.event_union()}) where event_id between '{lo}' and '{hi}'"
    raw: dict[str, Any] = {}
    failure: list[BaseException] = []

    def send() -> None:
        try:
            raw.update(_fixed_rate(server, events, key, work, rate, seconds)[1])
        except BaseException as exc:  # raised again below, in the benchmark's thread
            failure.append(exc)

    sender = threading.Thread(target=send)
    loader_before = _thread_cpu(rig.loader)
    seen: dict[str, float] = {}
    polls: list[float] = []
    sender.start()
    deadline: float | None = None
    while deadline is None or time.monotonic() < deadline:
        polled = time.monotonic()
        for (eid,) in api.query(sql):
            seen.setdefault(eid, time.monotonic())
        polls.append(time.monotonic() - polled)
        if deadline is None and not sender.is_alive():
            deadline = time.monotonic() + 15  # then the stragglers; past this, "not seen"
        if deadline is not None and len(seen) >= _acked(raw):
            break
        time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - polled)))
    sender.join()
    loader_cpu = _thread_cpu(rig.loader) - loader_before
    if failure:
        raise failure[0]
    delays = sorted(seen[event_id(first + i)] - t for i, t in enumerate(raw["acked_at"])
                    if not math.isnan(t) and event_id(first + i) in seen)
    loaded = _loaded_after(rig.data_dir, lo, hi)
    return Latency(_pct(delays, 50), _pct(delays, 95), delays[-1] if delays else math.nan,
                   len(delays), _acked(raw), sorted(polls), _pct(loaded, 50), _pct(loaded, 95),
                   loader_cpu)


def _loader_thread(pid: int) -> str:
    """The schedstat file of serve's event-loader thread (py-spy knows the threads' names)."""
    dump = subprocess.run([str(BIN / "py-spy"), "dump", "--pid", str(pid)],
                          capture_output=True, text=True, check=True).stdout
    found = re.search(r'^Thread (\d+) \(\w+\): "event-loader"', dump, re.MULTILINE)
    assert found is not None, f"no event-loader thread in serve: {dump[:500]}"
    return f"/proc/{pid}/task/{found[1]}/schedstat"


def _thread_cpu(schedstat: str) -> CpuTimes:
    run_ns, wait_ns, _ = Path(schedstat).read_text().split()
    return CpuTimes(int(run_ns) / 1e9, int(wait_ns) / 1e9)


def _loaded_after(data_dir: Path, lo: str, hi: str) -> list[float]:
    """Seconds from received to loaded of the inbox's events lo..hi, read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'inbox.db'}?mode=ro", uri=True)
                            ) as db:
        rows = db.execute("select loaded_at - received_at from events where event_id between ?"
                          " and ? and loaded_at is not null", (lo, hi)).fetchall()
    return sorted(r[0] for r in rows)


def _acked(raw: dict[str, Any]) -> int:
    return sum(1 for t in raw.get("acked_at", ()) if not math.isnan(t))


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    return values[max(1, math.ceil(q / 100 * len(values))) - 1]


def measure(rate: float = RATE, seconds: float = SECONDS, seed: int = SEED_EVENTS,
            on_loaded: Callable[[Served], None] | None = None, load: str = "both"
            ) -> dict[str, Any]:
    """Idle, then during the sync loop and the queries (`load` "sync" or "queries": that one
    alone). `on_loaded` runs as the loaded measurement starts (a profiler, for one)."""
    data_dir = fresh_dir()
    work = Path(tempfile.mkdtemp(prefix="cio-bench-e2q-"))
    try:
        with machine_load() as machine:
            events = Events()
            with sandbox_process("--scale", str(SYNC_SCALE), "--latency-ms", str(LATENCY_MS),
                                 "--history-days", str(HISTORY_DAYS),
                                 "--delivery-gap-ms", str(DELIVERY_GAP_MS)) as sb:
                key = _link_source(data_dir, sb.url, sb.key,
                                       "--history-days", str(HISTORY_DAYS))
                with serve_process(data_dir) as served:
                    api = Api(served)
                    receiver = Server(f"{served.receiver_url}/webhooks/customerio/{SOURCE}",
                                      _receiver_pid(served))
                    print(f"  event-to-queryable: {seed:,} events to query ...", flush=True)
                    while (left := seed - _inbox(data_dir)[0]) > 0:
                        # wrk runs for a time: long enough for the events left at a few thousand/s.
                        _max_rate(receiver, events.take(left)[1], key, work,
                                  seconds=min(10, max(1, left // 5000)))
                    _wait_loaded(data_dir, timeout=300)
                    rig = Rig(receiver, api, events, key, work, data_dir,
                              _loader_thread(served.pid))
                    print(f"  event-to-queryable: idle, {rate:g}/s ...", flush=True)
                    idle = measure_latency(rig, rate, seconds)
                    heavy = QueryLoop([_heavy_sql(api)])
                    dashboards = QueryLoop(_dashboard_sql(api))
                    loops = [heavy, dashboards] if load != "sync" else []
                    with Background(served, SYNC_TABLES, loops,
                                    sync=load != "queries") as background:
                        deadline = time.monotonic() + 60
                        while not background.syncing() and time.monotonic() < deadline:
                            time.sleep(0.5)  # into its stride: past start-up, fetching pages
                        background.start_queries()
                        time.sleep(2.0)  # the queries under way
                        rows_before = background.synced
                        print(f"  event-to-queryable: during sync+query, {rate:g}/s ...",
                              flush=True)
                        if on_loaded is not None:
                            on_loaded(served)
                        loaded = measure_latency(rig, rate, seconds)
                        rows_during = background.synced - rows_before
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "seed": seed, "machine": machine,
        "idle": idle, "loaded": loaded, "rate": rate, "seconds": seconds,
        "syncs": background.syncs_finished, "synced_rows": background.synced,
        "rows_during": rows_during, "sync_errors": background.sync_errors,
        "heavy": heavy, "dashboards": dashboards,
    }



def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _runs(loop: QueryLoop) -> str:
    mean = sum(loop.seconds) / len(loop.seconds) if loop.seconds else math.nan
    failed = f", {len(loop.errors)} failed ({loop.errors[0]})" if loop.errors else ""
    return f"{len(loop.seconds)} runs, {mean:.2f} s each{failed}"


def report(m: dict[str, Any]) -> str:
    lines = [
        "## Event to queryable (`benchmarks/event_to_queryable.py`)",
        "",
        f"`cio-warehouse serve` with a real data dir; {m['rate']:g} signed, unique events/s for "
        f"{m['seconds']:g} s, open loop, to its receiver; the service's query API "
        f"(`POST /api/v1/query`) polled every {POLL_SECONDS * 1000:.0f} ms for them; from each "
        "ack to the answer of the first poll that returned the event (an upper bound, by at "
        "most one poll). Everything shares the machine's 2 cores, and so did any other work "
        f"on it: {m['machine'].sentence()}",
        "",
        f"| condition | seen | p50 | p95 (goal <= {GOAL_P95_S:g} s) | max "
        "| of which received to loaded, p50 / p95 | a poll's round trip, p50 / p95 "
        "| loader thread: on a CPU / waiting for one |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, lat in (("idle", m["idle"]), ("during sync+query", m["loaded"])):
        lines.append(
            f"| {name} | {lat.seen:,} of {lat.acked:,} acked | {lat.p50_s:.2f} s | "
            f"**{lat.p95_s:.2f} s** ({_met(lat.p95_s <= GOAL_P95_S)}) | {lat.max_s:.2f} s | "
            f"{lat.loaded_p50_s:.2f} / {lat.loaded_p95_s:.2f} s | "
            f"{_pct(lat.polls, 50) * 1000:.0f} / {_pct(lat.polls, 95) * 1000:.0f} ms | "
            f"{lat.loader_cpu.running:.1f} / {lat.loader_cpu.waiting:.1f} s |")
    errors = f"; sync errors: {m['sync_errors'][0]}" if m["sync_errors"] else ""
    lines += [
        "",
        "Received to loaded: the inbox's own times for the same events (the loader's part; the "
        "rest is the poll's). The loader thread's time on a CPU and runnable but waiting for "
        "one (Linux schedstat) over the condition.",
        "",
        "During sync+query, all at once: a sync as a real workspace's runs, paced at 10 "
        "requests/s (Customer.io's limit, the source's default) against the sandbox with its "
        f"10 rps limit on and {LATENCY_MS} ms latency: every App API table (small x "
        f"{SYNC_SCALE}) and message history ({HISTORY_DAYS} days, ~1,000,000 deliveries on "
        f"the first sync, the lookback after), through `POST /api/v1/sources/{SOURCE}/sync`, "
        f"started again whenever one finished ({m['syncs']} finished, {m['synced_rows']:,} rows "
        f"fetched, {m['rows_during']:,} of them during the measurement{errors}); and two SQL-box "
        "users through `POST /api/v1/query`, back to back: a join of every event row "
        f"({m['seed']:,} loaded before) with a {HEAVY_ROWS}-row generated table, grouped "
        f"({_runs(m['heavy'])}), and the data page's questions over `deliveries` (activity per "
        "day and channel, funnels per campaign) and a count of the last minute's events "
        f"({_runs(m['dashboards'])}).",
        "",
    ]
    return "\n".join(lines)


def run() -> str:
    return report(measure())


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help="seconds of events per condition (a short smoke run)")
    parser.add_argument("--seed", type=int, default=SEED_EVENTS,
                        help="events loaded before, for the heavy query to join")
    parser.add_argument("--load", choices=("both", "sync", "queries"), default="both",
                        help="what runs beside the loaded measurement (both: the benchmark)")
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE",
                        help="py-spy's samples of serve's threads (waiting too) during "
                        "sync+query, folded, into FILE")
    args = parser.parse_args(argv)

    def profile(served: Served) -> None:
        subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(served.pid), "--threads",
                          "--idle", "--native", "--rate", "50", "--duration",
                          str(int(args.seconds)), "--format", "raw", "--output",
                          str(args.profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    print(f"Machine: {machine()}\n")
    print(report(measure(seconds=args.seconds, seed=args.seed, load=args.load,
                         on_loaded=profile if args.profile else None)))


if __name__ == "__main__":
    main()
