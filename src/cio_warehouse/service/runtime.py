"""`cio-warehouse serve`: the warehouse-owning service (API, sync jobs, event loader) in this
process, and the webhook receiver in a process of its own so that nothing here delays an ack."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import uvicorn

from cio_warehouse.backoff import Backoff
from cio_warehouse.log_format import LogFormat
from cio_warehouse.secret import Secret
from cio_warehouse.service import discovery
from cio_warehouse.service.alert_monitor import AlertMonitor
from cio_warehouse.service.discovery import ServiceInfo
from cio_warehouse.service.jobs import SyncJobs
from cio_warehouse.service.priority import LowPriorityWarehouse
from cio_warehouse.service.scheduler import Scheduler
from cio_warehouse.state import DataDir, StateError, StateStore
from cio_warehouse.warehouse.duckdb_file import open_warehouse
from cio_warehouse.webhooks.inbox import (
    ENV_INBOX,
    InboxLocation,
    InboxUnavailable,
    inbox_location,
)
from cio_warehouse.webhooks.loader import EventLoader

if TYPE_CHECKING:
    from cio_warehouse.webhooks.published_keys import KeyPublisher

log = logging.getLogger(__name__)
RECEIVER_START_SECONDS = 30.0


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8001
    # A shared PostgreSQL inbox (`--inbox`); None: $CIO_WAREHOUSE_INBOX, else the data dir's.
    inbox: Secret | None = None
    # False (`--no-scheduler`): syncs run only when asked (`sync`, the API), e.g. by an
    # orchestrator (docs/deployment.md).
    scheduler: bool = True
    # More Host names the web app answers to (`--allowed-host`; web/hosts.py has the rest).
    allowed_hosts: tuple[str, ...] = ()
    # How this process and the receiver it starts log (`--log-format`).
    log_format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    receiver_url: str
    admin_token: str | None = None  # in clear once: on the start that created it
    login_url: str | None = None  # a one-time login link, new at each start


class ReceiverSupervisor:
    """Runs the receiver process and starts it again if it dies, until told to stop."""

    def __init__(
        self, data_dir: DataDir, host: str, port: int, inbox: InboxLocation | None = None,
        log_format: LogFormat = LogFormat.TEXT,
    ) -> None:
        self._args = [
            sys.executable, "-m", "cio_warehouse.webhooks.receiver_process",
            "--data-dir", str(data_dir.root), "--host", host, "--port", str(port),
            "--log-format", log_format.value,
        ]
        # The inbox URL goes by the environment, never argv (other users can read argv); the
        # child must use this service's inbox whatever its own environment says.
        self._env = {k: v for k, v in os.environ.items() if k != ENV_INBOX}
        if inbox is not None and inbox.url is not None:
            self._env[ENV_INBOX] = inbox.url.reveal()
        self._proc: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        # A restart and stop() never interleave: a receiver started after stop() looked would
        # ack deliveries that the service's last drain never sees.
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        self.url = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="receiver-watch", daemon=True)
        self._watcher.start()
        return self.url

    def _spawn(self) -> str:
        proc = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, text=True, env=self._env,
            preexec_fn=_die_with_parent,
        )
        self._proc = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the receiver prints its URL once it listens
        if not line:
            proc.wait(timeout=RECEIVER_START_SECONDS)
            _close_pipe(proc)
            raise StateError(
                f"The webhook receiver did not start (exit code {proc.returncode}); see the "
                "message above, e.g. its port may be in use: pick another with --webhook-port."
            )
        return str(json.loads(line)["url"])

    def _watch(self) -> None:
        # 1 s before a restart, doubled after each restart that failed, at most 30 s.
        backoff = Backoff(1.0, 30.0)
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                log.warning("the webhook receiver exited (%s); restarting it", proc.returncode)
                _close_pipe(proc)
                self._stopping.wait(backoff.after(backoff.failures + 1))
                with self._lock:
                    if self._stopping.is_set():  # e.g. a Ctrl-C to the group stopped both
                        return
                    try:
                        self._spawn()
                        backoff.succeeded()
                    except (StateError, OSError, ValueError) as exc:
                        log.warning("restarting the receiver failed: %s", exc)
                        backoff.failed()
            self._stopping.wait(0.5)

    def stop(self) -> None:
        """SIGTERM: the receiver stops accepting, answers what is in flight, flushes, exits."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            _close_pipe(proc)


def _close_pipe(proc: subprocess.Popen[str]) -> None:
    """The receiver prints one line (its URL); its pipe is closed once it has exited."""
    if proc.stdout is not None:
        proc.stdout.close()


def _die_with_parent() -> None:
    """Linux: the receiver gets SIGTERM if this process dies, even by kill -9, so that a
    restarted service never meets an orphan holding the webhook port."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Service:
    """The parts of a running service, for `serve`, the demo and tests: start, run, close."""

    def __init__(self, data_dir: DataDir, settings: ServeSettings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.store = StateStore(data_dir)
        # API queries run in the threads that take its cursors: they yield to the receiver.
        self.warehouse = LowPriorityWarehouse(data_dir, self.store)
        self.jobs = SyncJobs(self.store)
        self.scheduler = Scheduler(self.store, self.jobs)
        # The webhook inbox: the data dir's inbox.db, or a PostgreSQL one that receivers on other
        # machines share (docs/deployment.md); the loader drains it, the API reads its health.
        self.inbox = inbox_location(data_dir, settings.inbox)
        self.loader = EventLoader(data_dir, inbox=self.inbox)
        # Incidents per source, one message when each starts and one when it resolves.
        self.alerts = AlertMonitor(self.store, self.inbox, self.warehouse)
        self._key_publisher: KeyPublisher | None = None
        self.token = secrets.token_urlsafe(32)  # the CLI's bearer token (service.json)
        self._sock: socket.socket | None = None
        self._receiver = ReceiverSupervisor(
            data_dir, settings.webhook_host, settings.webhook_port, self.inbox,
            settings.log_format,
        )
        self._stop_loader = threading.Event()
        self._loader_thread = threading.Thread(
            target=self.loader.run_forever, args=(self._stop_loader,), name="event-loader"
        )
        self._server: uvicorn.Server | None = None

    def start(self) -> Endpoints:
        # Imported here: the CLI's other commands need no web framework.
        from cio_warehouse.web.app import create_web_app, login_details
        from cio_warehouse.web.auth import env_admin_token

        env_admin_token()  # a weak admin token is refused before anything starts
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.settings.host, self.settings.port))
        except OSError as exc:
            sock.close()
            raise StateError(
                f"Cannot listen on {self.settings.host}:{self.settings.port} ({exc.strerror}); "
                "pick another port with --port."
            ) from None
        self._sock = sock
        api_url = f"http://{self.settings.host}:{sock.getsockname()[1]}"
        if self.inbox.url is not None:
            # Receivers of a shared inbox read the signing keys there: published before ours
            # starts, then whenever they change.
            from cio_warehouse.webhooks.published_keys import KeyPublisher

            try:
                self._key_publisher = KeyPublisher(self.store, self.inbox.url).start()
            except InboxUnavailable as exc:
                raise StateError(
                    f"The shared inbox cannot be used ({exc}); check its URL (--inbox or "
                    f"${ENV_INBOX}) and that PostgreSQL is up."
                ) from None
        receiver_url = self._receiver.start()
        self.warehouse.open_first(self.store)  # before the loader: see priority.py
        self._loader_thread.start()
        self.alerts.start()
        app = create_web_app(self)
        admin_token, login_path = login_details(app)
        self._server = uvicorn.Server(
            # log_config=None: uvicorn's lines go through the root logger, in its format.
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                           log_config=None)
        )
        discovery.publish(self.data_dir, ServiceInfo(os.getpid(), api_url, self.token))
        if self.settings.scheduler:
            self.scheduler.start()
        # What is built by now lives as long as the service: out of the collector's sight, a full
        # collection (which stops every thread here, the loader's too) scans only what the work
        # made since, not the libraries' ~150,000 objects (~0.1 s a time on 2 busy cores).
        gc.freeze()
        return Endpoints(api_url, receiver_url, admin_token, api_url + login_path)

    @property
    def receiver_url(self) -> str:
        return self._receiver.url

    def run(self) -> None:
        """Serve until Ctrl-C, SIGTERM or request_stop(); the caller then calls close()."""
        assert self._server is not None and self._sock is not None, "start() first"
        if threading.current_thread() is threading.main_thread():
            # uvicorn handles SIGINT and SIGTERM while it serves, then raises the signal again
            # for the handler it found. SIGTERM's default one would end the process before
            # close() loads what the receiver acknowledged: this one makes it a Ctrl-C.
            signal.signal(signal.SIGTERM, _interrupt)
        # uvicorn re-raises the Ctrl-C it handled; for us it is the normal way to stop.
        with contextlib.suppress(KeyboardInterrupt):
            self._server.run(sockets=[self._sock])

    def request_stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def close(self) -> Closing:
        """Stop, load every acknowledged event, checkpoint the warehouse; what was done."""
        # Order matters: no new syncs, no new acks, then everything acked reaches the warehouse.
        self.alerts.stop()
        self.scheduler.stop()
        self._receiver.stop()
        if self._key_publisher is not None:
            self._key_publisher.stop()
        self._stop_loader.set()
        if self._loader_thread.is_alive():
            self._loader_thread.join()
        # On a shared inbox other receivers keep acking: this drains what is pending now.
        flushed = EventLoader(self.data_dir, self.loader.destination, inbox=self.inbox)
        loaded, trouble = 0, None
        try:
            loaded = flushed.drain().events
        except Exception as exc:  # noqa: BLE001  the inbox keeps them for the next start
            trouble = str(exc)
            log.warning("events stay in the inbox for the next start: %s", exc)
        finally:
            flushed.close()
        if self.jobs.busy():
            log.warning(
                "waiting for running syncs to finish; press Ctrl-C again to abandon them "
                "(their tables keep the previous rows)"
            )
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        self.jobs.shutdown()
        self.warehouse.close()
        discovery.withdraw(self.data_dir, os.getpid())
        if self._sock is not None:
            self._sock.close()
        return Closing(loaded, self._left_in_inbox(), trouble, self._checkpoint())

    def _left_in_inbox(self) -> int | None:
        """Events acknowledged but not loaded (None: the inbox cannot tell now)."""
        try:
            opened = self.inbox.open()
        except Exception:  # noqa: BLE001  a shared inbox that is down: said as unknown
            return None
        try:
            return sum(opened.health(name).backlog for name in self.store.source_names())
        finally:
            opened.close()

    def _checkpoint(self) -> str | None:
        """CHECKPOINT the data dir's DuckDB file, if there is one, so that its WAL is written
        into it (DuckDB also does so when the last connection closes; the loader's dlt
        pipelines may have kept one): None when done or nothing to do, else why not."""
        if not self.data_dir.warehouse.exists():
            return None
        try:
            with contextlib.closing(open_warehouse(self.data_dir)) as con:
                con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
        return None


@dataclass(frozen=True)
class Closing:
    """What close() did: events loaded at the stop, how many stay in the inbox (None: unknown),
    why loading stopped early, and why the warehouse was not checkpointed (None: it was)."""

    loaded: int
    left: int | None
    trouble: str | None = None
    not_checkpointed: str | None = None

    def sentence(self) -> str:
        """The one closing line of `serve`."""
        if self.left == 0:
            inbox = "none left in the inbox"
        elif self.left is None:
            inbox = "the inbox could not be read to check that none is left"
        else:
            inbox = f"{self.left} stay in the inbox for the next start ({self.trouble})"
        checkpoint = ("the warehouse is checkpointed" if self.not_checkpointed is None
                      else f"the warehouse was not checkpointed ({self.not_checkpointed})")
        return f"Stopped: {self.loaded} acknowledged events loaded, {inbox}; {checkpoint}."


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(
    data_dir: DataDir,
    settings: ServeSettings,
    *,
    on_ready: Callable[[Endpoints], None] | None = None,
) -> Closing:
    """Run until SIGINT/SIGTERM, then stop the receiver, flush the loader and exit cleanly."""
    service = Service(data_dir, settings)
    try:
        endpoints = service.start()
        if on_ready is not None:
            on_ready(endpoints)
        service.run()
    finally:
        closing = service.close()
    return closing
