"""The receiver as its own process: `python -m cio_warehouse.webhooks.receiver_process`."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import uvicorn

from cio_warehouse.configure import configure
from cio_warehouse.log_format import ENV_LOG_FORMAT, LogFormat, print_json_error, setup_logging
from cio_warehouse.state import DataDir, StateError, resolve_data_dir
from cio_warehouse.state.datadir import keep_files_private
from cio_warehouse.webhooks.http_protocol import ReadLimits, receiver_protocol
from cio_warehouse.webhooks.inbox import ENV_INBOX, InboxLocation, InboxUnavailable, inbox_location
from cio_warehouse.webhooks.receiver import ReceiverSettings, create_receiver_app

log = logging.getLogger(__name__)

# Customer.io gives a delivery 4 s; an in-flight request is done long before this.
GRACEFUL_SHUTDOWN_SECONDS = 10
# File descriptors besides the connections: the listener, the inbox and state files, pipes.
FD_HEADROOM = 64


class _ReceiverServer(uvicorn.Server):
    """uvicorn, plus a ready line on stdout once it listens (serve() handles SIGTERM/SIGINT).

    startup() is the step of uvicorn.Server that runs the lifespan and opens the sockets: after
    it, and only when it succeeded, the real port (for --port 0) is known and requests are
    served, which is what a parent waits for. uvicorn has no other hook at that moment (a
    lifespan runs before the sockets open); the ready-line tests of test_receiver_process.py
    fail if uvicorn stops calling this one.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.url: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        port = self.servers[0].sockets[0].getsockname()[1]  # the real one when --port 0
        host = self.config.host
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        _tune_gc()
        # One line for a parent process to wait on; printed once the socket accepts.
        print(json.dumps({"url": self.url}), flush=True)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Young objects allowed before a collection. Requests allocate and free their objects by the
# thousand; what is alive at any moment (the requests in flight) stays far below this, so in a
# steady stream the collector hardly ever runs, yet a leak of cycles is still collected.
GC_YOUNG_THRESHOLD = 10_000


def _tune_gc() -> None:
    """Once started: what start-up loaded lives as long as the process, so it is frozen out of
    every later collection (gc.freeze), and young collections become rare. With the defaults a
    collection ran every few dozen acks and the older generations walked the whole heap: about
    5% of the receiver's CPU in a profile under load."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def build_server(
    data_dir: DataDir, host: str, port: int, settings: ReceiverSettings | None = None,
    inbox: InboxLocation | None = None,
) -> _ReceiverServer:
    settings = settings or ReceiverSettings()
    limits = ReadLimits(settings.header_timeout_seconds, settings.body_timeout_seconds,
                        settings.max_incomplete_head_bytes)
    config = uvicorn.Config(
        create_receiver_app(data_dir, settings, inbox=inbox),
        host=host,
        port=port,
        loop="uvloop",
        http=receiver_protocol(limits),  # uvicorn's httptools protocol, with read deadlines
        limit_concurrency=settings.max_connections,
        ws="none",
        lifespan="on",
        workers=1,
        access_log=False,  # an access log would list every source name and client address
        server_header=False,
        log_level="warning",
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return _ReceiverServer(config)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cio_warehouse.webhooks.receiver_process",
        description="Receive Customer.io reporting-webhook deliveries into the inbox.",
    )
    parser.add_argument(
        "--data-dir", default=None,
        help="the data dir (default: $CIO_WAREHOUSE_DATA_DIR, else ./cio-warehouse-data)",
    )
    parser.add_argument(
        "--inbox", default=None,
        help="a shared PostgreSQL inbox, postgresql://USER:PASSWORD@HOST/DB (default: "
        f"${ENV_INBOX}, else the data dir's inbox.db); prefer the variable: argv is visible to "
        "other users",
    )
    parser.add_argument("--log-format", type=LogFormat, choices=list(LogFormat),
                        default=LogFormat(os.environ.get(ENV_LOG_FORMAT) or LogFormat.TEXT),
                        help=f"text or json (default: ${ENV_LOG_FORMAT}, else text)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--max-body-bytes", type=int, default=ReceiverSettings.max_body_bytes)
    parser.add_argument("--max-connections", type=int, default=ReceiverSettings.max_connections)
    parser.add_argument("--header-timeout", type=float,
                        default=ReceiverSettings.header_timeout_seconds)
    parser.add_argument("--body-timeout", type=float,
                        default=ReceiverSettings.body_timeout_seconds)
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> ReceiverSettings:
    return ReceiverSettings(
        max_body_bytes=args.max_body_bytes, max_connections=args.max_connections,
        header_timeout_seconds=args.header_timeout, body_timeout_seconds=args.body_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    keep_files_private()  # the inbox and its journals (serve's child inherits it anyway)
    configure(loading=False)  # it never loads: dlt and pyarrow stay unimported
    args = parse_args(argv)
    setup_logging(args.log_format)
    data_dir = DataDir(Path(resolve_data_dir(args.data_dir)))
    try:
        inbox = inbox_location(data_dir, args.inbox)
    except StateError as exc:
        _error(str(exc))
        return 1
    return run(data_dir, args.host, args.port, inbox, settings_from_args(args))


def run(
    data_dir: DataDir, host: str, port: int, inbox: InboxLocation,
    settings: ReceiverSettings | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT; the exit status. On a shared inbox the data dir is not
    created (a receiver on another machine has none): only its secret.key is used, if there."""
    settings = settings or ReceiverSettings()
    _raise_fd_limit(settings.max_connections + FD_HEADROOM)
    try:
        if not inbox.shared:
            data_dir.create()  # refuses a data dir it may not make private
        server = build_server(data_dir, host, port, settings, inbox)
    except (StateError, InboxUnavailable) as exc:
        _error(str(exc))
        return 1
    return serve(server)


def _error(message: str) -> None:
    if not print_json_error(message, logger=__name__):
        print(f"error: {message}", file=sys.stderr)


def serve(server: uvicorn.Server) -> int:
    """Run `server` until SIGTERM/SIGINT; the exit status."""
    try:
        with _stop_on_signals(server):
            server.run()
    except SystemExit as exc:  # uvicorn exits this way when the port is taken or startup fails
        return exc.code if isinstance(exc.code, int) else 1
    return 0 if server.started else 1


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM/SIGINT ask the server to stop; a shutdown asked for is a success (status 0).

    While it serves, uvicorn handles both itself (a graceful shutdown; a second SIGINT forces
    it). Then it puts back the handlers it found and raises the signal it caught again, for
    whoever handled it before ("cooperative signal handling", uvicorn 0.29): these, which only
    ask for a stop, so the process is not killed by it and exits 0. A signal that comes before
    uvicorn handles them (while it makes its event loop) stops the server once it has started.
    """
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_fd_limit(needed: int) -> None:
    """Lift the soft limit on open files to the hard one when it is below `needed`, as Go's
    runtime does at start. The usual soft limit, 1024, would otherwise bound the connections
    before max_connections does: past it the event loop closes new connections unanswered,
    where past max_connections uvicorn still answers 503, which Customer.io retries."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
        if target < needed:
            log.warning("this process may open only %d files, fewer than --max-connections "
                        "needs (%d): raise `ulimit -n` (LimitNOFILE= in systemd) or lower "
                        "--max-connections", target, needed)


if __name__ == "__main__":
    sys.exit(main())
