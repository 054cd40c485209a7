"""Send one notice to one channel: httpx for the webhooks, smtplib for mail; never raises."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx

from cio_warehouse.alerts.channels import EmailTarget, SmtpServer, secrets_of
from cio_warehouse.alerts.notice import Notice, scrubbed
from cio_warehouse.secret import Secret

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    # The receiving side's answer ("HTTP 200", "250 2.0.0 Ok: queued"), or on failure one
    # sentence saying what went wrong and what to check.
    answer: str


def send(kind: str, target: Secret, notice: Notice, *, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    """Deliver `notice`; blocking (callers run it in a thread of their own)."""
    if kind == "email":
        outcome = _mail(EmailTarget.of(target), notice, timeout)
    else:
        body = notice.slack() if kind == "slack" else notice.to_json()
        outcome = _post(target.reveal(), body, timeout, slack=kind == "slack")
    # An answer may quote what the other side said: it must not hold the channel's own secrets.
    return Outcome(outcome.ok, scrubbed(outcome.answer, secrets_of(kind, target)))


def _post(url: str, body: dict[str, object], timeout: float, *, slack: bool) -> Outcome:
    host = urlsplit(url).hostname or "the endpoint"
    try:
        response = httpx.post(url, json=body, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Outcome(False, f"{host} did not answer within {timeout:g} s: check that the "
                              "endpoint is up and reachable from this machine.")
    except httpx.HTTPError as exc:
        why = type(exc).__name__ if not str(exc) else str(exc).split(" for url")[0]
        return Outcome(False, f"Could not reach {host} ({why}): check the URL's host and port, "
                              "and that this machine can connect to it.")
    answer = f"HTTP {response.status_code}"
    if response.is_success:
        return Outcome(True, answer)
    said = " ".join(response.text.split())[:120]
    hint = (
        "the webhook was revoked or the URL is wrong: create a new incoming webhook in Slack"
        if slack and response.status_code in (403, 404, 410)
        else "check the URL and what the endpoint expects"
        if response.status_code < 500 else "the endpoint is failing; it is retried"
    )
    return Outcome(False, f"{host} answered {answer}" + (f" ({said})" if said else "")
                   + f": {hint}.")


def _mail(target: EmailTarget, notice: Notice, timeout: float) -> Outcome:
    server = target.server
    message = EmailMessage()
    message["Subject"] = f"[cio-warehouse] {notice.subject}"
    message["From"] = server.sender
    message["To"] = ", ".join(target.to)
    message.set_content(notice.email_body())
    where = f"the SMTP server {server.host}:{server.port}"
    try:
        with _connect(server, timeout) as smtp:
            if server.user and server.password:
                smtp.login(server.user, server.password.reveal())
            code, said = _deliver(smtp, server.sender, target.to, message)
    except smtplib.SMTPAuthenticationError as exc:
        return Outcome(False, f"{where} refused the login ({_said(exc.smtp_code, exc.smtp_error)}):"
                              " check the user and password in the SMTP URL.")
    except smtplib.SMTPNotSupportedError:
        return Outcome(False, f"{where} does not offer STARTTLS (or AUTH without it): use "
                              "smtps:// if it speaks TLS from the start, or ?starttls=false only "
                              "on a network you trust.")
    except smtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{a}: {_said(c, m)}" for a, (c, m) in exc.recipients.items())
        return Outcome(False, f"{where} refused the recipient ({refused}): check the address.")
    except smtplib.SMTPResponseException as exc:
        return Outcome(False, f"{where} answered {_said(exc.smtp_code, exc.smtp_error)}: check "
                              "the sender (?from=) and the server's relay rules.")
    except ssl.SSLError as exc:
        return Outcome(False, f"TLS with {where} failed ({exc.reason}): check the port and "
                              "whether it wants smtps:// or STARTTLS.")
    except (OSError, smtplib.SMTPException) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return Outcome(False, f"Could not reach {where} ({why}): check the host and port in "
                              "the SMTP URL and that this machine can connect to it.")
    return Outcome(True, _said(code, said))


def _connect(server: SmtpServer, timeout: float) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if server.tls == "tls":
        return smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    try:
        if server.tls == "starttls":
            smtp.starttls(context=context)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _deliver(smtp: smtplib.SMTP, sender: str, to: tuple[str, ...],
             message: EmailMessage) -> tuple[int, bytes]:
    """MAIL, RCPT, DATA by hand rather than send_message, which keeps the server's final
    answer (the queue id) to itself: `alert test` shows it."""
    smtp.ehlo_or_helo_if_needed()
    code, said = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, said, sender)
    refused = {}
    for address in to:
        code, said = smtp.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, said)
    if len(refused) == len(to):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, said = smtp.data(message.as_bytes())
    if code != 250:
        raise smtplib.SMTPDataError(code, said)
    return code, said


def _said(code: int, said: bytes | str) -> str:
    text = said.decode(errors="replace") if isinstance(said, bytes) else said
    return f"{code} {' '.join(text.split())}"
