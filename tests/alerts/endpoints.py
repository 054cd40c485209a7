"""Real local receivers for alert channels: an HTTP endpoint (the generic and Slack webhooks)
and an SMTP server (aiosmtpd), each recording what arrived."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.helpers import free_port
from tests.secrets_plugin import record_output


class HttpEndpoint:
    """POSTs to any path are recorded (path, JSON body) and answered with `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record_output("alert webhook body", raw.decode())
                endpoint.received.append((self.path, json.loads(raw)))
                body = b"ok" if endpoint.status < 400 else b"no_service"
                self.send_response(endpoint.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]

    def __enter__(self) -> HttpEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@dataclass
class _Recorder:
    user: str
    password: str
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        record_output("alert mail", raw.decode(errors="replace"))
        self.messages.append(message_from_bytes(raw))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 Ok: queued as TEST1"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """aiosmtpd on a free port: AUTH LOGIN/PLAIN with one user (plain text, on loopback only)."""

    def __init__(self, user: str = "alerts", password: str = "smtp-pass-5ecret") -> None:
        self.recorder = _Recorder(user, password)
        self.port = free_port()
        self._controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port,
            authenticator=self.recorder.authenticate, auth_require_tls=False,
        )

    @property
    def messages(self) -> list[Message]:
        return self.recorder.messages

    def url(self, *, password: bool = True) -> str:
        secret = f":{self.recorder.password}" if password else ""
        return (f"smtp://{self.recorder.user}{secret}@127.0.0.1:{self.port}"
                "?starttls=false&from=warehouse@example.com")

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
