"""Alert channels: stored sealed, shown masked, and `alert test` says whether a message arrived
(real local HTTP and SMTP receivers; the real CLI)."""

from __future__ import annotations

import secrets

import pytest

from cio_warehouse.ops import alerts
from cio_warehouse.ops.errors import OpsError
from cio_warehouse.state import DataDir, StateStore
from tests.alerts.endpoints import HttpEndpoint, SmtpServer
from tests.helpers import free_port, run_cli
from tests.secrets_plugin import remember

pytestmark = pytest.mark.timeout(120)


def _token() -> str:
    token = "tok" + secrets.token_hex(12)
    remember(token)
    return token


def test_channels_are_sealed_at_rest_and_listed_masked(
    store: StateStore, endpoint: HttpEndpoint, smtp: SmtpServer
) -> None:
    token = _token()
    remember(smtp.recorder.password)
    alerts.add_channel(store, "ops-slack", slack=f"https://hooks.slack.com/services/{token}")
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/hook/{token}")
    alerts.add_channel(store, "mail", email="oncall@example.com", smtp_url=smtp.url())
    shown = {c.name: c.shown for c in alerts.list_channels(store)}
    assert shown == {
        "hook": f"{endpoint.url}/***",
        "mail": f"oncall@example.com via smtp://alerts:***@127.0.0.1:{smtp.port}"
                "?starttls=false&from=warehouse@example.com",
        "ops-slack": "https://hooks.slack.com/***",
    }
    raw = store.data_dir.state_db.read_bytes()
    assert token.encode() not in raw
    assert smtp.recorder.password.encode() not in raw


def test_a_channel_is_one_kind_with_a_usable_target(store: StateStore) -> None:
    with pytest.raises(OpsError, match="exactly one"):
        alerts.add_channel(store, "x", slack="https://a.example/b", webhook="https://a.example/c")
    with pytest.raises(OpsError, match="https://"):
        alerts.add_channel(store, "x", slack="http://hooks.slack.com/services/abc")
    with pytest.raises(OpsError, match="SMTP server"):
        alerts.add_channel(store, "x", email="a@example.com")
    with pytest.raises(OpsError, match="smtp://"):
        alerts.add_channel(store, "x", email="a@example.com", smtp_url="http://mail:25")
    alerts.add_channel(store, "x", webhook="https://a.example/c")
    with pytest.raises(OpsError, match="already exists"):
        alerts.add_channel(store, "x", webhook="https://a.example/d")


def test_cli_add_list_test_remove_over_http_and_smtp(
    data_dir: DataDir, endpoint: HttpEndpoint, smtp: SmtpServer
) -> None:
    token = _token()
    remember(smtp.recorder.password)
    # The URL from stdin, the SMTP password from the environment: neither in argv.
    added = run_cli(data_dir, "alert", "add", "hook", "--webhook", "-",
                    stdin=f"{endpoint.url}/hook/{token}\n")
    assert added.code == 0, added.output
    slack = run_cli(data_dir, "alert", "add", "chat", "--slack", f"http://slack.example/{token}")
    assert slack.code != 0 and "https://" in slack.output  # Slack's URLs are https only
    mail = run_cli(data_dir, "alert", "add", "mail", "--email", "oncall@example.com",
                   env={"CIO_WAREHOUSE_SMTP_URL": smtp.url(password=False),
                        "CIO_WAREHOUSE_SMTP_PASSWORD": smtp.recorder.password})
    assert mail.code == 0, mail.output
    assert "Warning" not in mail.output

    listed = run_cli(data_dir, "alert", "list")
    assert listed.code == 0 and "hook" in listed.stdout and "mail" in listed.stdout
    assert "alerts:***@" in listed.stdout

    tested = run_cli(data_dir, "alert", "test", "hook")
    assert tested.code == 0, tested.output
    assert "delivered" in tested.stdout and "HTTP 200" in tested.stdout
    [body] = endpoint.bodies(f"/hook/{token}")
    assert body["kind"] == "test" and body["state"] == "resolved" and body["source"] is None
    assert {"source", "table", "kind", "state", "message", "at"} <= body.keys()

    tested = run_cli(data_dir, "alert", "test", "mail")
    assert tested.code == 0, tested.output
    assert "250 2.0.0 Ok: queued as TEST1" in tested.stdout
    [message] = smtp.messages
    assert message["To"] == "oncall@example.com"
    assert message["From"] == "warehouse@example.com"
    assert "alert channel mail works" in message.get_payload()

    assert run_cli(data_dir, "alert", "remove", "hook").code == 0
    assert "hook" not in run_cli(data_dir, "alert", "list").stdout
    gone = run_cli(data_dir, "alert", "test", "hook")
    assert gone.code == 1 and "No alert channel named 'hook'" in gone.stderr


def test_alert_test_says_why_a_message_did_not_arrive(
    data_dir: DataDir, endpoint: HttpEndpoint, smtp: SmtpServer
) -> None:
    dead = free_port()  # nothing listens there
    assert run_cli(data_dir, "alert", "add", "dead", "--webhook",
                   f"http://127.0.0.1:{dead}/x").code == 0
    failed = run_cli(data_dir, "alert", "test", "dead")
    assert failed.code == 1
    assert "not delivered to dead" in failed.stderr
    assert "Could not reach 127.0.0.1" in failed.stderr and "check the URL" in failed.stderr

    endpoint.status = 404
    assert run_cli(data_dir, "alert", "add", "gone", "--webhook", f"{endpoint.url}/x").code == 0
    failed = run_cli(data_dir, "alert", "test", "gone")
    assert failed.code == 1 and "answered HTTP 404" in failed.stderr

    wrong = smtp.url().replace(smtp.recorder.password, "not-the-password")
    remember(smtp.recorder.password)
    assert run_cli(data_dir, "alert", "add", "mail", "--email", "a@example.com",
                   env={"CIO_WAREHOUSE_SMTP_URL": wrong}).code == 0
    failed = run_cli(data_dir, "alert", "test", "mail")
    assert failed.code == 1
    assert "refused the login (535" in failed.stderr and "user and password" in failed.stderr
    assert "not-the-password" not in failed.output


def test_starttls_is_the_default_and_its_absence_is_said(store: StateStore,
                                                         smtp: SmtpServer) -> None:
    # smtp:// without ?starttls=false asks for STARTTLS, which this local server does not offer.
    url = smtp.url().replace("?starttls=false&", "?")
    remember(smtp.recorder.password)
    alerts.add_channel(store, "mail", email="a@example.com", smtp_url=url)
    outcome = alerts.send_test(store, "mail")
    assert not outcome.ok
    assert "does not offer STARTTLS" in outcome.answer and "smtps://" in outcome.answer
    assert smtp.messages == []
