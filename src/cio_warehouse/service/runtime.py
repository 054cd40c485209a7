"""`cio-warehouse serve`: the warehouse-owning service (API, sync jobs, event loader) in this
process, and the webhook receiver in a process of its own so that nothing here delays an ack."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
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

import uvicorn

from cio_warehouse.service import discovery
from cio_warehouse.service.api import Warehouse, create_api
from cio_warehouse.service.discovery import ServiceInfo
from cio_warehouse.service.jobs import SyncJobs
from cio_warehouse.state import DataDir, StateError, StateStore
from cio_warehouse.webhooks.loader import EventLoader

log = logging.getLogger(__name__)
RECEIVER_START_SECONDS = 30.0


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8001


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    receiver_url: str


class ReceiverSupervisor:
    """Runs the receiver process and starts it again if it dies, until told to stop."""

    def __init__(self, data_dir: DataDir, host: str, port: int) -> None:
        self._args = [
            sys.executable, "-m", "cio_warehouse.webhooks.receiver_process",
            "--data-dir", str(data_dir.root), "--host", host, "--port", str(port),
        ]
        self._proc: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        self.url = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="receiver-watch", daemon=True)
        self._watcher.start()
        return self.url

    def _spawn(self) -> str:
        proc = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent
        )
        self._proc = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the receiver prints its URL once it listens
        if not line:
            proc.wait(timeout=RECEIVER_START_SECONDS)
            raise StateError(
                f"The webhook receiver did not start (exit code {proc.returncode}); see the "
                "message above, e.g. its port may be in use: pick another with --webhook-port."
            )
        return str(json.loads(line)["url"])

    def _watch(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                log.warning("the webhook receiver exited (%s); restarting it", proc.returncode)
                self._stopping.wait(delay)
                try:
                    self._spawn()
                    delay = 1.0
                except (StateError, OSError, ValueError) as exc:
                    log.warning("restarting the receiver failed: %s", exc)
                    delay = min(delay * 2, 30.0)
            self._stopping.wait(0.5)

    def stop(self) -> None:
        """SIGTERM: the receiver stops accepting, answers what is in flight, flushes, exits."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _die_with_parent() -> None:
    """Linux: the receiver gets SIGTERM if this process dies, even by kill -9, so that a
    restarted service never meets an orphan holding the webhook port."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(
    data_dir: DataDir,
    settings: ServeSettings,
    *,
    on_ready: Callable[[Endpoints], None] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM, then stop the receiver, flush the loader and exit cleanly."""
    store = StateStore(data_dir)
    token = secrets.token_urlsafe(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise StateError(
            f"Cannot listen on {settings.host}:{settings.port} ({exc.strerror}); pick another "
            "port with --port."
        ) from None
    api_url = f"http://{settings.host}:{sock.getsockname()[1]}"

    receiver = ReceiverSupervisor(data_dir, settings.webhook_host, settings.webhook_port)
    receiver_url = receiver.start()
    warehouse = Warehouse(data_dir)
    jobs = SyncJobs(store)
    loader = EventLoader(data_dir)
    stop_loader = threading.Event()
    loader_thread = threading.Thread(
        target=loader.run_forever, args=(stop_loader,), name="event-loader"
    )
    loader_thread.start()
    app = create_api(data_dir, jobs, warehouse, token)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    discovery.publish(data_dir, ServiceInfo(os.getpid(), api_url, token))
    try:
        if on_ready is not None:
            on_ready(Endpoints(api_url, receiver_url))
        # uvicorn re-raises the Ctrl-C it handled; for us it is the normal way to stop.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        # Order matters: no new acks, then everything acked reaches the warehouse.
        receiver.stop()
        stop_loader.set()
        loader_thread.join()
        flushed = EventLoader(data_dir, loader.destination)
        try:
            flushed.drain()
        except Exception as exc:  # noqa: BLE001  the inbox keeps them for the next start
            log.warning("events stay in the inbox for the next start: %s", exc)
        finally:
            flushed.close()
        if jobs.busy():
            log.warning(
                "waiting for running syncs to finish; press Ctrl-C again to abandon them "
                "(their tables keep the previous rows)"
            )
            signal.signal(signal.SIGINT, lambda *_: os._exit(130))
        jobs.shutdown()
        warehouse.close()
        discovery.withdraw(data_dir, os.getpid())
        sock.close()
