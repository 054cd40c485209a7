"""Full refresh: wall time beside the floor that 10 requests/second allows, and peak RSS as the
workspace grows tenfold. Run: `python benchmarks/full_refresh.py` (or `make bench`)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from benchmarks.harness import cli, fresh_dir, machine, run_timed, sandbox_process

# small x 80: 20,000 newsletters and 19,200 sender identities, ~390 requests at 100 per page.
PACED_SCALE = 80
LATENCY_MS = 50


def _link_and_sync(data_dir: Path, url: str, key: str, *source_args: str) -> tuple[float, float]:
    env = {**os.environ, "CIO_APP_API_KEY": key}
    run_timed(cli(data_dir, "source", "add", "bench", "--api-base-url", url, *source_args), env)
    timed = run_timed(cli(data_dir, "sync", "bench"), env)
    return timed.seconds, timed.max_rss_mib


def _requests_and_rows(data_dir: Path) -> tuple[int, int]:
    """Requests of the sync (pages + retries) and rows, from the run history."""
    with sqlite3.connect(data_dir / "state.db") as db:
        pages, retries, rows = db.execute(
            "select sum(pages), sum(retries), sum(rows) from runs where status = 'succeeded'"
        ).fetchone()
    return pages + retries, rows


def paced() -> dict[str, float]:
    data_dir = fresh_dir()
    try:
        with sandbox_process(
            "--scale", str(PACED_SCALE), "--latency-ms", str(LATENCY_MS), "--rate-limit-rps", "10"
        ) as sb:
            wall, _ = _link_and_sync(data_dir, sb.url, sb.key)
        requests, rows = _requests_and_rows(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    floor = requests / 10
    return {"requests": requests, "rows": rows, "wall": wall, "floor": floor, "ratio": wall / floor}


def memory(*sandbox_args: str) -> dict[str, float]:
    data_dir = fresh_dir()
    try:
        with sandbox_process(*sandbox_args, "--rate-limit-rps", "off") as sb:
            wall, rss = _link_and_sync(data_dir, sb.url, sb.key, "--max-rps", "0")
        _, rows = _requests_and_rows(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"rows": rows, "wall": wall, "rss": rss}


def _paged_times_ten() -> list[str]:
    """Newsletters and sender identities x10: the lists that grow with a real workspace (the
    others come back whole in one response and stay small in practice)."""
    args = ["--scale", str(PACED_SCALE)]
    for table, per_small in (("newsletters", 250), ("sender_identities", 240)):
        args += ["--rows", f"{table}={per_small * PACED_SCALE * 10}"]
    return args


def run() -> str:
    p = paced()
    small = memory("--scale", str(PACED_SCALE))
    paged = memory(*_paged_times_ten())
    large = memory("--scale", str(PACED_SCALE * 10))
    growth = paged["rss"] / small["rss"] - 1
    growth_all = large["rss"] / small["rss"] - 1
    return "\n".join(
        [
            "## Full refresh (`benchmarks/full_refresh.py`)",
            "",
            f"Against the sandbox in its own process with {LATENCY_MS} ms added latency and its "
            "10 rps limit on; `cio-warehouse sync` timed as a whole command (start-up included).",
            "",
            "| requests | rows | wall time | floor (requests / 10 rps) | ratio (goal <= 1.2) |",
            "|---|---|---|---|---|",
            f"| {p['requests']:.0f} | {p['rows']:,.0f} | {p['wall']:.1f} s | {p['floor']:.1f} s "
            f"| **{p['ratio']:.2f}** |",
            "",
            "Peak RSS of the sync process (ru_maxrss), latency and rate limit off:",
            "",
            "| workspace | rows | wall time | peak RSS |",
            "|---|---|---|---|",
            f"| 1x | {small['rows']:,.0f} | {small['wall']:.1f} s | {small['rss']:.0f} MiB |",
            f"| 10x newsletters and sender identities | {paged['rows']:,.0f} | "
            f"{paged['wall']:.1f} s | {paged['rss']:.0f} MiB |",
            f"| 10x every table | {large['rows']:,.0f} | {large['wall']:.1f} s | "
            f"{large['rss']:.0f} MiB |",
            "",
            f"RSS growth for 10x rows of the paged lists: **{growth:+.0%}** (goal <= +20%); with "
            f"every table x10: **{growth_all:+.0%}**. The unpaged lists (campaigns, segments, "
            "...) come back in one response each, which has to be held while it is parsed, so "
            "their size shows in the peak; paged lists stream page by page.",
            "",
        ]
    )


if __name__ == "__main__":
    print(f"Machine: {machine()}\n")
    print(run())
