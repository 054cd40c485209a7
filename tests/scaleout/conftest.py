"""Scale-out fixtures: a shared PostgreSQL inbox, receivers on it (in a thread, or as the real
`cio-warehouse receive` process of a machine without a data dir), nginx in front of them."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.inbox import ENV_INBOX, InboxLocation
from cio_warehouse.webhooks.inbox.postgres import PostgresInbox
from cio_warehouse.webhooks.published_keys import KeyPublisher
from tests.helpers import CLI, free_port, wait_until

NGINX = Path("/usr/sbin/nginx")


@pytest.fixture
def shared_inbox(postgres_url: str) -> InboxLocation:
    """A shared inbox in a fresh database of the session's PostgreSQL."""
    return InboxLocation(url=Secret(postgres_url))


def publish_keys(store: StateStore, inbox: InboxLocation) -> None:
    """What the service does at start and on every change: the keys, encrypted, in the inbox."""
    assert inbox.url is not None
    publisher = KeyPublisher(store, inbox.url)
    try:
        publisher.publish()
    finally:
        publisher.stop()


def pg_inbox(inbox: InboxLocation) -> PostgresInbox:
    assert inbox.url is not None
    return PostgresInbox(inbox.url)


class ReceiveProcess:
    """`cio-warehouse receive` on a fixed port, as on a machine of its own: its data dir does not
    exist; the inbox URL and the service's secret key come from the environment."""

    def __init__(self, workdir: Path, inbox: InboxLocation, secret_key: str, port: int) -> None:
        assert inbox.url is not None
        self.port = port
        self.workdir = workdir
        self.env = {**os.environ, ENV_INBOX: inbox.url.reveal(),
                    "CIO_WAREHOUSE_SECRET_KEY": secret_key, "PYTHONUNBUFFERED": "1"}
        self.args = [str(CLI), "--data-dir", str(workdir / "no-data-dir"), "receive",
                     "--host", "127.0.0.1", "--port", str(port)]
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"receiver-{self.port}.stderr"

    def start(self, timeout: float = 30) -> ReceiveProcess:
        self.starts += 1
        with open(self.stderr_path, "a") as stderr:
            self.proc = subprocess.Popen(
                self.args, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                text=True, env=self.env,
            )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.kill()
            raise RuntimeError(f"the receiver did not start: {self.stderr_path.read_text()}")
        assert json.loads(line) == {"url": f"http://127.0.0.1:{self.port}"}
        return self

    def kill(self) -> None:
        """kill -9."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


class Nginx:
    """Debian's nginx in the foreground with a config of its own: one upstream of receivers."""

    def __init__(self, workdir: Path, upstream_ports: list[int], *,
                 upstream_header: bool = False) -> None:
        self.prefix = workdir / "nginx"
        self.prefix.mkdir()
        self.port = free_port()
        # max_fails=3: with 1, one error on each receiver (a kill, a restart) marks both down
        # at once, and nginx answered hundreds of 502s ("no live upstreams") in this test.
        servers = "\n".join(f"server 127.0.0.1:{p} max_fails=3 fail_timeout=2s;"
                            for p in upstream_ports)
        user = "user root;" if os.geteuid() == 0 else ""
        # Which receiver answered ("A, B" when nginx passed the request on): tests only.
        upstream = "add_header X-Upstream $upstream_addr always;" if upstream_header else ""
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(textwrap.dedent(f"""\
            {user}
            worker_processes 1;
            pid {self.prefix}/nginx.pid;
            error_log {self.prefix}/error.log warn;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
                client_body_temp_path {self.prefix}/client_body;
                proxy_temp_path {self.prefix}/proxy;
                fastcgi_temp_path {self.prefix}/fastcgi;
                uwsgi_temp_path {self.prefix}/uwsgi;
                scgi_temp_path {self.prefix}/scgi;
                upstream receivers {{
                    {servers}
                    keepalive 32;
                }}
                server {{
                    listen 127.0.0.1:{self.port};
                    client_max_body_size 1m;
                    client_body_buffer_size 1m;
                    location /webhooks/customerio/ {{
                        proxy_pass http://receivers;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_connect_timeout 1s;
                        proxy_read_timeout 4s;
                        # A POST is retried on the other receiver when this one failed, even
                        # once sent (non_idempotent): the inbox deduplicates on
                        # (source, event_id), so a delivery that the dead receiver did commit
                        # is answered "duplicate" there, never stored twice.
                        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
                        proxy_next_upstream_tries 2;
                        {upstream}
                    }}
                }}
            }}
            """))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        self.proc = subprocess.Popen(
            [str(NGINX), "-p", str(self.prefix), "-c", str(self.conf), "-e",
             str(self.prefix / "error.log"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        proc = self.proc

        def listens() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listens, "nginx to listen", 10, detail=lambda: self.error_log)
        return self

    @property
    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def endpoint(self, source: str) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/customerio/{source}"


@pytest.fixture
def nginx_binary() -> Path:
    if not NGINX.exists():
        pytest.fail("nginx is not installed: run `make test` (it installs Debian's nginx-light)")
    return NGINX
