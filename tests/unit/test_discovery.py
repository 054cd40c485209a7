"""How the CLI finds the running service: a busy one is waited for, a stale file is ignored."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cio_warehouse.service import discovery
from cio_warehouse.service.discovery import ServiceInfo, find_running
from cio_warehouse.state import DataDir


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[float]]]:
    """A /api/v1/health that answers its first request after 2.5 s (past the CLI's 2 s timeout),
    as a service whose CPU a large load holds; the later ones at once."""
    asked: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            asked.append(time.monotonic())
            if len(asked) == 1:
                time.sleep(2.5)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    server.server_close()


def test_a_live_service_slow_to_answer_is_waited_for(
    tmp_path: Path, health_server: tuple[str, list[float]]
) -> None:
    url, asked = health_server
    data_dir = DataDir(tmp_path / "data").create()
    info = ServiceInfo(os.getpid(), url, "token")
    discovery.publish(data_dir, info)
    assert find_running(data_dir) == info
    assert len(asked) >= 2  # the first answer came too late; it asked again


def test_a_file_nobody_listens_behind_is_ignored(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").create()
    discovery.publish(data_dir, ServiceInfo(os.getpid(), "http://127.0.0.1:9", "token"))
    started = time.monotonic()
    assert find_running(data_dir) is None
    assert time.monotonic() - started < discovery.BUSY_SERVICE_WAIT_SECONDS  # not waited for
