"""`python -m cio_warehouse.sandbox`: serve a generated workspace until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from cio_warehouse.sandbox.behaviour import Behaviour
from cio_warehouse.sandbox.faults import FaultError, fault_from_json
from cio_warehouse.sandbox.server import (
    DEFAULT_DELIVERY_GAP_MS,
    DEFAULT_HISTORY_DAYS,
    SandboxServer,
)
from cio_warehouse.sandbox.workspace import CURSOR_ENDS, Workspace


def _rps(text: str) -> int | None:
    if text.lower() in ("off", "none", "0"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a positive integer, or off")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a number >= 0")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("a number > 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("an integer >= 1")
    return value


def _table_rows(text: str) -> tuple[str, int]:
    table, _, count = text.partition("=")
    if table not in Workspace.PRESETS["small"] or not count.isdigit():
        tables = ", ".join(sorted(Workspace.PRESETS["small"]))
        raise argparse.ArgumentTypeError(f"TABLE=N with a table of: {tables}")
    return table, int(count)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cio_warehouse.sandbox",
        description="Serve a Customer.io App API look-alike. Prints {\"url\": ...} once listening.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=1)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--preset", choices=sorted(Workspace.PRESETS), default=None,
                      help="workspace size (default: small)")
    size.add_argument("--scale", type=float, default=None,
                      help="the small preset times this factor (400 -> 100,000 newsletters)")
    parser.add_argument("--rows", action="append", default=[], metavar="TABLE=N",
                        type=_table_rows, help="row count of one table, over the preset/scale")
    # Secrets never go in argv (visible in ps): name the variable that holds the key.
    parser.add_argument("--api-key-env", required=True, metavar="VAR",
                        help="environment variable holding the App API key to accept")
    parser.add_argument("--rate-limit-rps", type=_rps, default=10, metavar="N|off")
    parser.add_argument("--no-retry-after", dest="rate_limit_retry_after",
                        action="store_false",
                        help="429s over the rate limit carry no Retry-After (as documented)")
    parser.add_argument("--webhook-events", choices=("docs", "live"), default="docs",
                        help="event names a reporting-webhook create accepts: every one the "
                             "docs use, or (live) the delivery spec's only, 400 naming others")
    parser.add_argument("--refuse-webhook-event", action="append", default=[], metavar="NAME",
                        help="an event name the create call refuses on top (repeatable)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--forbid", action="append", default=[], metavar="PATH_PREFIX",
                        help="answer 403 on this path prefix (repeatable)")
    parser.add_argument("--cursor-end", choices=CURSOR_ENDS, default=None,
                        help="how the last page ends (default: varies by seed and table)")
    parser.add_argument("--behaviour", choices=("docs", "live"), default="docs",
                        help="where the live API differs from the docs, which reading to play "
                             "(docs/customerio-behaviour.md)")
    parser.add_argument("--faults", type=Path, default=None, metavar="FILE",
                        help="a JSON list of fault knobs to arm at start")
    hooks = parser.add_argument_group("reporting-webhook sender")
    hooks.add_argument("--stream-rate", type=_non_negative, default=0.0, metavar="N",
                       help="events per second to every enabled, subscribed webhook (0 = off)")
    hooks.add_argument("--retry-time-scale", type=_positive, default=1.0, metavar="F",
                       help="multiplies retry delays (1 = Customer.io's hour; 0.001 = 3.6 s)")
    hooks.add_argument("--delivery-timeout", type=_positive, default=4.0, metavar="S",
                       help="seconds a webhook has to answer 2xx (Customer.io: 4)")
    hooks.add_argument("--events-start", type=int, default=None, metavar="UNIX",
                       help="timestamp of the first event (default: now); fixes event ids")
    history = parser.add_argument_group("message history (GET /v1/messages)")
    history.add_argument("--history-days", type=_non_negative, default=DEFAULT_HISTORY_DAYS,
                         metavar="D", help="deliveries exist from D days before start on "
                                           f"(default: {DEFAULT_HISTORY_DAYS:g})")
    history.add_argument("--delivery-gap-ms", type=_positive_int,
                         default=DEFAULT_DELIVERY_GAP_MS, metavar="MS",
                         help="one delivery every MS ms on average, in history and the webhook "
                              f"stream alike (default: {DEFAULT_DELIVERY_GAP_MS:,}; "
                              "1000 -> 86,400 a day)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env, "")
    if not api_key:
        parser.error(f"environment variable {args.api_key_env} is unset or empty")
    overrides: dict[str, Any] = dict(args.rows)
    overrides["behaviour"] = Behaviour.live() if args.behaviour == "live" else Behaviour()
    if args.scale is not None:
        workspace = Workspace.scaled(
            args.seed, args.scale, cursor_end=args.cursor_end, **overrides
        )
    else:
        workspace = Workspace.preset(
            args.preset or "small", args.seed, cursor_end=args.cursor_end, **overrides
        )
    try:
        faults = (
            [fault_from_json(knob) for knob in json.loads(args.faults.read_text())]
            if args.faults else []
        )
    except (OSError, ValueError, TypeError, FaultError) as exc:
        parser.error(f"--faults: {exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SandboxServer(
        workspace, api_key=api_key, host=args.host, port=args.port,
        rate_limit_rps=args.rate_limit_rps, latency_ms=args.latency_ms,
        rate_limit_retry_after=args.rate_limit_retry_after, webhook_events=args.webhook_events,
        refused_webhook_events=args.refuse_webhook_event,
        forbidden_paths=args.forbid, faults=faults, loop="auto",
        delivery_timeout_s=args.delivery_timeout, retry_time_scale=args.retry_time_scale,
        events_start=args.events_start, stream_rate=args.stream_rate,
        history_days=args.history_days, delivery_gap_ms=args.delivery_gap_ms,
    )
    with server:
        print(json.dumps({"url": server.url}), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
