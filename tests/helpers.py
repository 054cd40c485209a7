"""Helpers the tests share: link the sandbox in a store, run the real CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import httpx

from cio_warehouse import catalog
from cio_warehouse.sandbox import Enqueued, SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, SourceSettings, StateStore
from tests.secrets_plugin import record_output

CLI = Path(sys.executable).with_name("cio-warehouse")
T = TypeVar("T")


class HasUrl(Protocol):
    """A sandbox, in this process (SandboxServer) or in its own (benchmarks.harness.Sandbox)."""

    @property
    def url(self) -> str: ...


def add_source(
    store: StateStore,
    sandbox: HasUrl | None = None,
    api_key: str | None = None,
    name: str = "acme",
    tables: tuple[str, ...] | None = None,
    *,
    signing_key: str | None = None,
    previous_signing_key: str | None = None,
    **settings: object,
) -> SourceConfig:
    """Link a source directly in the store (no key check), with client setting overrides.

    With a sandbox, the source reads it and `tables` defaults to all 17 (tests that run `serve`
    select only event tables, so that the scheduler does not start syncs of its own); without
    one, it is a source that only receives deliveries, and selects no table. `signing_key` and
    `previous_signing_key` are its reporting webhook's keys (none: deliveries are dropped).
    """
    source = SourceConfig(
        name=name,
        region="us",
        app_api_key=Secret(api_key or f"app-api-key-{name}"),
        api_base_url=sandbox.url if sandbox is not None else None,
        tables=tables if tables is not None
        else catalog.DEFAULT_TABLES if sandbox is not None else (),
        settings=SourceSettings.from_json(settings),
        signing_key=Secret(signing_key) if signing_key else None,
        previous_signing_key=Secret(previous_signing_key) if previous_signing_key else None,
    )
    store.add_source(source)
    return source


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    data_dir: DataDir, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
    stdin: str | None = None,
) -> CliResult:
    """The installed console script in its own process, as a user runs it (`stdin`: piped)."""
    full_env = {k: v for k, v in os.environ.items() if k != "CIO_APP_API_KEY"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    proc = subprocess.run(
        [str(CLI), "--data-dir", str(data_dir.root), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
    )
    record_output(f"cli {args[:1]} stdout", proc.stdout)  # for the secrets scan
    record_output(f"cli {args[:1]} stderr", proc.stderr)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_in(cwd: Path, *args: str, env: dict[str, str] | None = None,
               stdin: str | None = None) -> CliResult:
    """The console script with exactly `args` (run_cli puts --data-dir first), run in `cwd`
    with no $CIO_WAREHOUSE_DATA_DIR: the data dir is the default one unless `args` name one."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("CIO_APP_API_KEY", "CIO_WAREHOUSE_DATA_DIR")}
    full_env.update({"COLUMNS": "200", **(env or {})})
    proc = subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120,
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
    )
    record_output(f"cli {args[:1]} stdout", proc.stdout)  # for the secrets scan
    record_output(f"cli {args[:1]} stderr", proc.stderr)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def wait_until(
    predicate: Callable[[], T], what: str, timeout: float = 30.0, interval: float = 0.05,
    detail: Callable[[], object] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy, and return that; past `timeout`
    seconds, fail the test naming `what` was awaited, and showing `detail()` (what was last
    seen) when given. Exceptions of the predicate propagate."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            shown = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{shown}")
        time.sleep(interval)


def send_deliveries(sandbox: SandboxServer, count: int) -> int:
    """Queue at least `count` deliveries to the sandbox's webhooks; how many were queued.

    `sandbox.send(n)` draws n events of the workspace's stream, which starts at the second the
    sandbox did, and queues only those a webhook wants, as Customer.io does: a WhatsApp event
    (no selectable table subscribes to it) or a repeat open or click (sent only with "every
    time") reaches none of ours. Two draws reach none at about 3% of start seconds, and then
    `wait_delivered` is true at once, as nothing is pending. So this draws until `count`
    deliveries are queued."""
    queued = 0
    for _ in range(1000):
        sent: Enqueued = sandbox.send(count - queued)
        queued += sum(sent.queued.values())
        if queued >= count:
            return queued
    raise AssertionError(f"the sandbox's stream queued {queued} of {count} deliveries: "
                         f"no webhook wants its events? {sandbox.webhooks()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cio_sign(key: str, timestamp: str, body: bytes) -> str:
    """The tests' own reading of Customer.io's signature: lowercase hex HMAC-SHA256, keyed with
    the signing key, of `v0:` + X-CIO-Timestamp + `:` + the raw body."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class ServeProcess:
    """`cio-warehouse serve` as a real process on free ports; stop() sends Ctrl-C (SIGINT)."""

    def __init__(
        self, data_dir: DataDir, port: int | None = None, webhook_port: int | None = None,
        *options: str,
    ) -> None:
        self.data_dir = data_dir
        self.options = options  # more `serve` options
        self.port = port or free_port()
        self.webhook_port = webhook_port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def webhook_base(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def start(self, timeout: float = 60) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if k != "CIO_APP_API_KEY"}
        self.proc = subprocess.Popen(
            [str(CLI), "--data-dir", str(self.data_dir.root), "serve",
             "--port", str(self.port), "--webhook-port", str(self.webhook_port),
             *self.options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=True,
        )
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"serve exited: {output}")
            if not self.data_dir.service_file.exists():
                return False
            try:
                httpx.get(f"{self.webhook_base}/", timeout=1)
            except httpx.HTTPError:
                return False
            return True

        wait_until(answers, "serve to start", timeout, interval=0.1)
        return self

    def stop(self, timeout: float = 60) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=timeout)
        record_output("serve output", out)  # for the secrets scan
        return out

    def kill(self) -> None:
        """kill -9 of the service process (the receiver follows it: PR_SET_PDEATHSIG)."""
        assert self.proc is not None
        self.proc.kill()
        out, _ = self.proc.communicate(timeout=30)
        record_output("serve output", out)


EVENT_TABLES = tuple(t.name for t in catalog.WEBHOOK_TABLES)
# A channel mix for volume tests: mostly email, every routed channel present.
DELIVERY_CHANNELS = ("email", "email", "email", "push", "sms", "in_app", "customer", "webhook",
                     "slack")


def delivery_body(n: int, tag: str) -> bytes:
    """Delivery n of a volume test, shaped like Customer.io's; `tag` (5 letters) keeps the
    event_ids of different tests apart."""
    object_type = DELIVERY_CHANNELS[n % len(DELIVERY_CHANNELS)]
    metric = "subscribed" if object_type == "customer" else "delivered"
    return json.dumps({
        "event_id": f"01J{tag}{n:018d}", "object_type": object_type, "metric": metric,
        "timestamp": 1700000000 + n,
        "data": {"delivery_id": f"d{n}", "identifiers": {"id": str(n)}, "customer_id": str(n)},
    }).encode()
