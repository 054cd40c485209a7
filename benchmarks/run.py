"""`make bench`: every benchmark in one run, results written to docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import event_to_queryable, full_refresh, history, loader, webhooks  # noqa: E402
from benchmarks.harness import machine, settle  # noqa: E402
from cio_warehouse.configure import configure  # noqa: E402

BENCHMARKS = [full_refresh, history, webhooks, event_to_queryable, loader]


def main() -> None:
    configure()
    sections = []
    for bench in BENCHMARKS:
        settle()
        print(f"running {bench.__name__} ...", flush=True)
        section = bench.run()
        print(section, flush=True)
        sections.append(section)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    header = (
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {today}, on {machine()}. Figures are from one run; each\n"
        "table's numbers were measured side by side in that run.\n\n"
    )
    # The receiver's profile needs py-spy and perf with ptrace rights: measured apart, kept as is.
    sections.append((ROOT / "benchmarks" / "receiver_profile.md").read_text())
    (ROOT / "docs" / "benchmarks.md").write_text(header + "\n".join(sections))
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
