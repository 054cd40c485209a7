"""Alert channels as data: a Slack incoming webhook, a generic JSON webhook, or email over SMTP.

A channel's target is one secret: the webhook URL (Slack's and most others' hold their token in
the path), or for email the addresses and an SMTP URL, `smtp://user:password@host:587` (STARTTLS,
the default; `?starttls=false` for none) or `smtps://...:465` (TLS from the start), with
`?from=ADDRESS`. One URL, like `--destination`, is one value to store sealed and to show masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cio_warehouse.ops.errors import OpsError
from cio_warehouse.secret import Secret, mask_url

KINDS = ("slack", "webhook", "email")
_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+$")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: str  # starttls | tls (smtps://) | none
    user: str | None
    password: Secret | None
    sender: str


@dataclass(frozen=True)
class EmailTarget:
    to: tuple[str, ...]
    smtp_url: Secret

    @property
    def server(self) -> SmtpServer:
        return parse_smtp_url(self.smtp_url.reveal())

    def to_secret(self) -> Secret:
        return Secret(json.dumps({"to": list(self.to), "smtp_url": self.smtp_url.reveal()}))

    @classmethod
    def of(cls, target: Secret) -> EmailTarget:
        body = json.loads(target.reveal())
        return cls(tuple(body["to"]), Secret(body["smtp_url"]))


def webhook_url(url: str, *, slack: bool) -> str:
    """A channel's URL, checked: http(s) with a host; Slack's only over https (but to this
    machine, e.g. a local relay)."""
    parts = urlsplit(url.strip())
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    schemes = ("https",) if slack and not local else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        want = "an https:// URL (Slack's incoming webhook URL)" if slack else \
            "an http:// or https:// URL"
        raise OpsError(f"The {'Slack' if slack else 'webhook'} URL must be {want}; got "
                       f"{shown_url(url)!r}.", "url")
    return url.strip()


def shown_url(url: str) -> str:
    """A webhook URL as `alert list` shows it: scheme and host; the path and query, where
    Slack and most endpoints keep their token, masked."""
    parts = urlsplit(url.strip())
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    rest = "/***" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{rest}"


def email_target(to: str, smtp_url: str, password: str | None = None) -> EmailTarget:
    """An email channel: `to` (one address or several, comma-separated) through the SMTP URL's
    server; `password` (from the environment or a prompt) if the URL has a user but none."""
    addresses = tuple(a.strip() for a in to.split(",") if a.strip())
    bad = [a for a in addresses if not _ADDRESS.match(a)]
    if not addresses or bad:
        raise OpsError(f"Not an email address: {', '.join(bad) or to!r}.", "email")
    parts = urlsplit(smtp_url.strip())
    if password and parts.username and parts.password is None:
        host = parts.netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
        smtp_url = parts._replace(netloc=netloc).geturl()
    parse_smtp_url(smtp_url)  # refuses what cannot be used
    return EmailTarget(addresses, Secret(smtp_url.strip()))


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url.strip())
    options = {k.lower(): v for k, v in parse_qsl(parts.query)}
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise OpsError(
            f"The SMTP URL must look like smtp://user:password@host:587 (STARTTLS) or "
            f"smtps://user:password@host:465 (TLS); got {mask_url(url)!r}.", "smtp_url"
        )
    starttls = options.get("starttls", "true").lower()
    if starttls not in _TRUE + _FALSE:
        raise OpsError(f"starttls must be true or false; got {starttls!r}.", "smtp_url")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise OpsError(f"The SMTP URL's port is not a number: {mask_url(url)!r}.",
                       "smtp_url") from None
    user = unquote(parts.username) if parts.username else None
    default_sender = user if user and "@" in user else f"cio-warehouse@{parts.hostname}"
    sender = options.get("from") or default_sender
    if not _ADDRESS.match(sender):
        raise OpsError(f"The sender (?from=) is not an email address: {sender!r}.", "smtp_url")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        tls="tls" if parts.scheme == "smtps" else "starttls" if starttls in _TRUE else "none",
        user=user,
        password=Secret(unquote(parts.password)) if parts.password else None,
        sender=sender,
    )


def shown_email(target: EmailTarget) -> str:
    return f"{', '.join(target.to)} via {mask_url(target.smtp_url.reveal())}"


def secrets_of(kind: str, target: Secret) -> list[str]:
    """The clear texts a message must never hold: the URL (and its path, where the token is),
    or the SMTP URL and its password."""
    if kind != "email":
        url = target.reveal()
        path = urlsplit(url).path
        return [url, *([path] if len(path.strip("/")) >= 8 else [])]
    email = EmailTarget.of(target)
    password = email.server.password
    return [email.smtp_url.reveal(), *([password.reveal()] if password else [])]
