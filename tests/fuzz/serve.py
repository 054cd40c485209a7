"""`cio-warehouse serve` as a real process for the fuzz suite, its output in a file.

tests/helpers.py ServeProcess reads the output through a pipe at the end; under fuzzing uvicorn
warns once per malformed request, and a pipe nobody drains fills up and stalls the service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from cio_warehouse.state import DataDir
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN
from tests.helpers import CLI, free_port, wait_until

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class FuzzServe:
    def __init__(self, data_dir: DataDir, admin_token: str, log_path: Path) -> None:
        self.data_dir = data_dir
        self.admin_token = admin_token
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_url = ""

    def start(self, timeout: float = 60) -> FuzzServe:
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in _PROXY_VARIABLES and k != "CIO_APP_API_KEY"}
        # Every outgoing request of the service goes to a proxy that is not there: a fuzzed
        # key check or registration fails at once and never reaches the real Customer.io.
        nowhere = f"http://127.0.0.1:{free_port()}"
        env.update({"HTTP_PROXY": nowhere, "HTTPS_PROXY": nowhere, "ALL_PROXY": nowhere,
                    ENV_ADMIN_TOKEN: self.admin_token})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(CLI), "--data-dir", str(self.data_dir.root), "serve",
                 "--port", "0", "--webhook-port", "0"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,
            )
        proc = self.proc

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.output()}")
            return self.answers()

        try:
            wait_until(started, "serve to start", timeout, interval=0.1, detail=self.output)
        except AssertionError:
            self.stop()
            raise
        return self

    def answers(self) -> bool:
        """The API answers its health check (and the service file names it)."""
        try:
            self.api_url = json.loads(self.data_dir.service_file.read_text())["url"]
            reply = httpx.get(f"{self.api_url}/api/v1/health", timeout=5,
                              headers={"Authorization": f"Bearer {self.admin_token}"})
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return False
        return reply.status_code == 200

    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise
