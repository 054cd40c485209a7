"""A pytest plugin: after the run, no App API key or signing key in clear text in pytest's
basetemp (data dirs: state.db, inbox.db, warehouse.duckdb, pipelines/, process logs), nor in what
the product printed (CLI runs, `serve`), logged, or answered over HTTP.

The secrets are gathered from three places: the `api_key` fixture, the sandbox (its API key and
every signing key it makes), and at the end the state.db of every data dir (decrypted with its
own secret.key: every key the product was given). Where the product's answers and output do not
land in a file by themselves, they are written under basetemp/secrets-scan/ as they happen.
The Customer.io side is left out: the sandbox must know the keys (it checks the API key and signs
deliveries), so its answers (paths /v1/ and /_sandbox/, or a running sandbox's address) and its
log records are not recorded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.secrets_scan import Finding, Scanner

SECRET_FIXTURES = frozenset({"api_key"})
# The api_key fixture's shape (tests/conftest.py): such text anywhere is a key, whoever made it.
KEY_SHAPES = (re.compile(rb"sbx_[0-9a-f]{40}(?![0-9a-f])"),)
# What the product never serves: Customer.io's API paths and the sandbox's control routes.
_CUSTOMERIO_PATHS = ("/v1/", "/_sandbox/")
_SANDBOX_LOGGERS = "cio_warehouse.sandbox"

_lock = threading.Lock()
_secrets: set[str] = set()
_sandbox_origins: set[str] = set()
_state: dict[str, Any] = {}  # config, the capture file, the patches to undo, the findings


def remember(secret: str) -> None:
    """A secret the product must never show (tests with keys of their own may call this)."""
    with _lock:
        _secrets.add(secret)


def record_output(label: str, data: str | bytes | None) -> None:
    """Keep what a product process printed (or answered) for the scan at the end."""
    if not data:
        return
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    with _lock:
        capture = _capture_file()
        if capture is not None:
            capture.write(f"\n--- {label} ---\n".encode() + raw)
            capture.flush()


def _capture_file() -> Any:
    if "capture" not in _state:
        factory = getattr(_state.get("config"), "_tmp_path_factory", None)
        if factory is None:
            return None
        directory = factory.getbasetemp() / "secrets-scan"
        directory.mkdir(exist_ok=True)
        _state["capture"] = (directory / "captured.log").open("ab")
    return _state["capture"]


# -- collecting secrets and what the product showed ---------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
    value = yield
    if fixturedef.argname in SECRET_FIXTURES and isinstance(value, str):
        remember(value)
    return value


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Captured stdout/stderr: in-process product code, and the output of processes the tests
    start without redirecting it. (Log records are kept by the handler below.)"""
    for name, content in report.sections:
        if name.startswith(("Captured stdout", "Captured stderr")):
            record_output(f"{report.nodeid} {name}", content)


class _LogRecorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SANDBOX_LOGGERS):
            return
        with contextlib.suppress(Exception):
            record_output(f"log {record.name}", self.format(record))


def _record_response(response: httpx.Response) -> None:
    try:
        url = response.request.url
    except RuntimeError:  # a Response built by hand, never sent
        return
    origin = f"{url.scheme}://{url.host}:{url.port}"
    if url.path.startswith(_CUSTOMERIO_PATHS) or origin in _sandbox_origins:
        return
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
    record_output(f"http {response.status_code} {url}", f"{headers}\n\n".encode()
                  + response.content)


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    original = getattr(owner, name)
    setattr(owner, name, functools.wraps(original)(make(original)))
    _state.setdefault("undo", []).append((owner, name, original))


def _install_patches() -> None:
    from cio_warehouse.sandbox.server import SandboxServer
    from cio_warehouse.sandbox.state import SandboxState
    from cio_warehouse.sandbox.webhooks import WebhookStore

    def reading(original: Any) -> Any:
        def read(self: httpx.Response) -> bytes:
            content: bytes = original(self)
            _record_response(self)
            return content
        return read

    def areading(original: Any) -> Any:
        async def aread(self: httpx.Response) -> bytes:
            content: bytes = await original(self)
            _record_response(self)
            return content
        return aread

    def state_init(original: Any) -> Any:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if isinstance(self.api_key, str):
                remember(self.api_key)
        return init

    def creating(original: Any) -> Any:
        def create(self: WebhookStore, body: object) -> dict[str, Any]:
            hook: dict[str, Any] = original(self, body)
            remember(self.signing_key(hook["id"]))
            return hook
        return create

    def starting(original: Any) -> Any:
        def start(self: SandboxServer) -> SandboxServer:
            started: SandboxServer = original(self)
            _sandbox_origins.add(_origin(started.url))
            return started
        return start

    def stopping(original: Any) -> Any:
        def stop(self: SandboxServer) -> None:
            with contextlib.suppress(RuntimeError):
                _sandbox_origins.discard(_origin(self.url))
            original(self)
        return stop

    _patch(httpx.Response, "read", reading)
    _patch(httpx.Response, "aread", areading)
    _patch(SandboxState, "__init__", state_init)
    _patch(WebhookStore, "create", creating)
    _patch(SandboxServer, "start", starting)
    _patch(SandboxServer, "stop", stopping)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def pytest_configure(config: pytest.Config) -> None:
    _state["config"] = config
    _install_patches()
    handler = _LogRecorder()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    _state["handler"] = handler


def pytest_unconfigure(config: pytest.Config) -> None:
    for owner, name, original in reversed(_state.pop("undo", [])):
        setattr(owner, name, original)
    logging.getLogger().removeHandler(_state.pop("handler"))
    if "capture" in _state:
        _state.pop("capture").close()


# -- the scan --------------------------------------------------------------------------------


def stored_secrets(root: Path) -> set[str]:
    """Every key held in the state.db files under `root`, decrypted with each one's secret.key
    (what the product was given, including keys no fixture knows about)."""
    from cio_warehouse.state import DataDir, StateStore

    found: set[str] = set()
    for state_db in root.rglob("state.db"):
        data_dir = DataDir(state_db.parent)
        if not data_dir.secret_key_file.is_file():
            continue
        with contextlib.suppress(Exception):  # damaged on purpose by a fault test, or foreign
            store = StateStore(data_dir)
            for name in store.source_names():
                source = store.get_source(name)
                for secret in (source.app_api_key, source.signing_key,
                               source.previous_signing_key):
                    if secret is not None:
                        found.add(secret.reveal())
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return  # no test made a temporary directory: nothing was written to scan
    started = time.monotonic()
    if "capture" in _state:
        _state["capture"].flush()
    basetemp = factory.getbasetemp()
    with _lock:
        known = set(_secrets)
    scanner = Scanner(known | stored_secrets(basetemp), KEY_SHAPES)
    findings = scanner.scan_tree(basetemp)
    _state["report"] = (scanner, findings, time.monotonic() - started)
    if findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "report" not in _state:
        return
    scanner, findings, seconds = _state.pop("report")
    summary = (f"secrets scan: {len(scanner.secrets)} keys in {scanner.scanned_files} files, "
               f"{scanner.scanned_bytes / 1e6:.1f} MB, {seconds:.1f} s")
    if not findings:
        terminalreporter.write_line(f"{summary}: none in clear text", green=True)
        return
    terminalreporter.write_line(f"{summary}: {len(findings)} found in clear text", red=True)
    for finding in findings[:50]:
        terminalreporter.write_line(f"  {finding}", red=True)


__all__ = ["Finding", "record_output", "remember"]
