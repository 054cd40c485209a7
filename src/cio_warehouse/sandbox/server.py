"""SandboxServer: the sandbox on a real port, served by uvicorn from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from cio_warehouse.sandbox.app import build_app
from cio_warehouse.sandbox.faults import Fault, fault_from_json
from cio_warehouse.sandbox.gate import install_log_filter
from cio_warehouse.sandbox.request_log import LoggedRequest
from cio_warehouse.sandbox.state import DEFAULT_RATE_LIMIT_RPS, SandboxState
from cio_warehouse.sandbox.workspace import Workspace

_START_TIMEOUT = 10.0


class SandboxServer:
    """`with SandboxServer(Workspace.preset("small"), api_key="k") as sb: httpx.get(sb.url + ...)`.

    Knobs, the request log and signing keys are reached directly in Python (no HTTP needed).
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_rps: int | None = DEFAULT_RATE_LIMIT_RPS,
        latency_ms: float = 0.0,
        forbidden_paths: Iterable[str] = (),
        faults: Iterable[Fault | Mapping[str, Any]] = (),
        loop: str = "asyncio",
    ) -> None:
        self.state = SandboxState(
            workspace if workspace is not None else Workspace.preset("small"),
            api_key,
            rate_limit_rps=rate_limit_rps,
            latency_ms=latency_ms,
            forbidden_paths=tuple(forbidden_paths),
        )
        self.set_faults(faults)
        self._config = uvicorn.Config(
            build_app(self.state), host=host, port=port, loop=loop, lifespan="off", ws="none",
            log_level="warning", access_log=False, timeout_graceful_shutdown=2,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._host = host
        self._port = port
        # A later issue adds the webhook sender: a task started beside the server here that
        # POSTs signed deliveries to self.state.webhooks.deliverable().

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url if self._server else None!r}, api_key=***)"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("this SandboxServer was already started")
        install_log_filter()  # again: uvicorn's logging set-up may have run since build_app
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._serve, name="cio-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if self._failure is not None or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox did not start: {self._failure!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox did not start within 10 s")
            time.sleep(0.005)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection((self._host, self._port), timeout=_START_TIMEOUT):
            pass  # the port answers
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.state.stopping.set()  # wakes requests sleeping in latency/slow knobs
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.run()
        except BaseException as exc:  # uvicorn exits via SystemExit on bind errors
            self._failure = exc

    # -- what tests use -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT (paths start with /v1)."""
        if self._server is None or not self._server.started:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def workspace(self) -> Workspace:
        return self.state.workspace

    def set_faults(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the armed knobs (typed knobs or their JSON form)."""
        self.state.set_faults(
            fault_from_json(dict(fault)) if isinstance(fault, Mapping) else fault
            for fault in faults
        )

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The armed knobs with how many matching requests each saw and how often it fired."""
        return self.state.faults.snapshot()

    def requests(self) -> list[LoggedRequest]:
        return self.state.log.entries()

    def clear_requests(self) -> None:
        self.state.log.clear()

    def reset_rate_limit(self) -> None:
        self.state.limiter.reset()

    def signing_key(self, webhook_id: int) -> str:
        """The key a user would copy from Customer.io's UI (KeyError if no such webhook)."""
        return self.state.webhooks.signing_key(webhook_id)

    def webhooks(self) -> list[dict[str, Any]]:
        return self.state.webhooks.webhooks()
