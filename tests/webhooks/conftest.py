"""Webhook receiver fixtures: the app on a real port (uvicorn in a thread), signed deliveries."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks.inbox import (
    Health,
    Inbox,
    InboxLocation,
    PendingDeadLetter,
    PendingEvent,
)
from cio_warehouse.webhooks.receiver import ReceiverSettings, create_receiver_app
from tests.helpers import add_source, wait_until

SOURCE = "acme"
KEY = "2f1c0b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a1908f7e6d"  # looks like CIO's
_ids = itertools.count(1)


def cio_signature(key: str, timestamp: str, body: bytes) -> str:
    """The test suite's own reading of the spec, independent of signature.py.

    Customer.io: X-CIO-Signature is the lowercase hex HMAC-SHA256, keyed with the signing key,
    of `v0:` + X-CIO-Timestamp + `:` + the raw request body.
    """
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def event_body(event_id: str | None = None, object_type: str = "email", **fields: Any) -> bytes:
    """One delivery shaped like the spec's `email_sent` example (journeys-webhooks.json): top-level
    event_id (ULID-like, the dedup key), object_type, metric, timestamp (unix seconds), data."""
    event = {
        "metric": "sent",
        "event_id": event_id or f"01HTEST{next(_ids):019d}",
        "object_type": object_type,
        "timestamp": int(time.time()),
        "data": {
            "action_id": 42,
            "broadcast_id": 9,
            "customer_id": "0200000001",
            "delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY",
            "identifiers": {"id": "42", "email": "test@example.com", "cio_id": "d9c106000001"},
            "recipient": "test@example.com",
        },
        **fields,
    }
    return json.dumps(event).encode()


def signed_headers(body: bytes, key: str = KEY, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-CIO-Timestamp": ts,
        "X-CIO-Signature": cio_signature(key, ts, body),
        "Content-Type": "application/json",
    }


class ReceiverServer:
    """The receiver app served by uvicorn (uvloop, httptools, as in production) from a thread,
    on the data dir's inbox or on `inbox` (a shared PostgreSQL one)."""

    def __init__(self, data_dir: DataDir, settings: ReceiverSettings | None = None, *,
                 inbox: InboxLocation | None = None) -> None:
        self.app = create_receiver_app(data_dir, settings, inbox=inbox)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, loop="uvloop", http="httptools", ws="none",
            lifespan="on", access_log=False, server_header=False, log_level="warning",
            log_config=None, timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="receiver", daemon=True)
        self.url = ""

    def start(self) -> ReceiverServer:
        self._thread.start()
        def started() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError("the receiver did not start")
            return self.server.started

        wait_until(started, "the receiver to start", 20, interval=0.005)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "the receiver did not stop"

    def endpoint(self, source: str = SOURCE) -> str:
        return f"{self.url}/webhooks/customerio/{source}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


class ReceiverProcess:
    """`python -m cio_warehouse.webhooks.receiver_process` as a parent process runs it."""

    def __init__(self, data_dir: DataDir, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.args = [
            sys.executable, "-m", "cio_warehouse.webhooks.receiver_process",
            "--data-dir", str(data_dir.root), "--host", "127.0.0.1", "--port", "0", *extra_args,
        ]
        self.stderr_path = data_dir.root.parent / f"receiver-{next(_ids)}.stderr"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.ready_line = ""

    def start(self, timeout: float = 20) -> ReceiverProcess:
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                self.args, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.kill()
                raise RuntimeError(f"the receiver printed nothing in {timeout} s: {self.stderr}")
        self.ready_line = self.proc.stdout.readline()
        if not self.ready_line:
            self.wait(10)
            raise RuntimeError(f"the receiver exited ({self.proc.returncode}): {self.stderr}")
        self.url = json.loads(self.ready_line)["url"]
        return self

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def endpoint(self, source: str = SOURCE) -> str:
        return f"{self.url}/webhooks/customerio/{source}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.wait()


def nodelay_transport(max_connections: int) -> httpx.AsyncHTTPTransport:
    """An async transport with TCP_NODELAY, as Customer.io's sender (and Go's net/http) uses.

    httpx writes the head and the body of a request separately; without TCP_NODELAY Nagle's
    algorithm holds the body until the receiver's delayed ACK (~40 ms on Linux) for each one.
    """
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


@dataclass
class InboxView:
    """What the receiver left in the inbox, read through the inbox's own API."""

    events: list[PendingEvent]
    dead_letters: list[PendingDeadLetter]
    health: Health


def read_inbox(data_dir: DataDir, source: str = SOURCE) -> InboxView:
    """One source's rows and health (tests sharing a receiver use a source each)."""
    inbox = Inbox(data_dir.inbox)
    try:
        return InboxView(
            [e for e in inbox.pending_events(1_000_000) if e.source == source],
            [d for d in inbox.pending_dead_letters(1_000_000) if d.source == source],
            inbox.health(source),
        )
    finally:
        inbox.close()


def set_keys(store: StateStore, key: str | None, previous: str | None = None,
             name: str = SOURCE) -> None:
    current = store.get_source(name)
    store.update_source(SourceConfig(
        name=current.name, region=current.region, app_api_key=current.app_api_key,
        signing_key=Secret(key) if key else None,
        previous_signing_key=Secret(previous) if previous else None,
    ))


@pytest.fixture
def data_dir_with_source(data_dir: DataDir) -> DataDir:
    """A data dir with SOURCE linked and KEY as its signing key (receiver process tests)."""
    add_source(StateStore(data_dir), signing_key=KEY)
    return data_dir


@pytest.fixture
def start_receiver(data_dir: DataDir) -> Iterator[Callable[..., ReceiverServer]]:
    started: list[ReceiverServer] = []

    def start(settings: ReceiverSettings | None = None) -> ReceiverServer:
        server = ReceiverServer(data_dir, settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# One receiver per test module (starting and stopping uvicorn costs ~0.3 s); each test gets a
# source of its own in it, so tests cannot see each other's rows or counters.
@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return DataDir(tmp_path_factory.mktemp("shared") / "data").create()


@pytest.fixture(scope="module")
def shared_store(shared_dir: DataDir) -> StateStore:
    return StateStore(shared_dir)


@pytest.fixture(scope="module")
def receiver(shared_dir: DataDir, shared_store: StateStore) -> Iterator[ReceiverServer]:
    server = ReceiverServer(shared_dir).start()
    yield server
    server.stop()


@pytest.fixture
def source(shared_store: StateStore) -> str:
    """A fresh source with KEY as its signing key, in the shared receiver's data dir."""
    name = f"source{next(_ids)}"
    add_source(shared_store, name=name, signing_key=KEY)
    return name


def fresh_name() -> str:
    return f"source{next(_ids)}"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http
