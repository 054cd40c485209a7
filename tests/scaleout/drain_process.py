"""A loader on its own, as on a machine of its own: `python -m tests.scaleout.drain_process
DATA_DIR BATCH STOP_FILE` drains the shared inbox ($CIO_WAREHOUSE_INBOX) until STOP_FILE exists
and nothing is pending, then prints what it loaded as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cio_warehouse.configure import configure
from cio_warehouse.state import DataDir
from cio_warehouse.webhooks.inbox import inbox_location
from cio_warehouse.webhooks.loader import EventLoader


def main() -> None:
    configure()
    data_dir = DataDir(Path(sys.argv[1]))
    stop_file = Path(sys.argv[3])
    loader = EventLoader(data_dir, inbox=inbox_location(data_dir), batch_size=int(sys.argv[2]))
    events = drains = 0
    idle_since: float | None = None
    try:
        while True:
            stats = loader.drain_once()
            events += stats.events
            drains += not stats.idle
            if not stats.idle:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            # Once the writer is done, idle for a while: the other loader's claim may still
            # hold rows that a failure would give back.
            if stop_file.exists() and time.monotonic() - idle_since > 1.0:
                break
            time.sleep(0.05)
    finally:
        loader.close()
    print(json.dumps({"events": events, "drains": drains}), flush=True)


if __name__ == "__main__":
    main()
