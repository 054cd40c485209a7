"""Registering the Reporting Webhook through the real CLI against the sandbox's App API."""

from __future__ import annotations

import subprocess

from cio_warehouse import catalog, webhook_links
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.registration import subscribed_events
from tests.helpers import CLI, run_cli

PUBLIC = "https://cio.example.com"
URL = f"{PUBLIC}/webhooks/customerio/acme"
# What the official spec lists for the seven event tables (webhooks/spec_events.py).
ALL_EVENTS = sorted(subscribed_events([t.name for t in catalog.WEBHOOK_TABLES]))


def _link(data_dir: DataDir, sandbox: SandboxServer, key: str) -> None:
    added = run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                    env={"CIO_APP_API_KEY": key})
    assert added.code == 0, added.output


def _signing_key(data_dir: DataDir, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "--data-dir", str(data_dir.root), "webhook", "signing-key", "acme"],
        input=key + "\n", capture_output=True, text=True, timeout=60,
    )


def test_register_reuse_enable_and_delete(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    _link(data_dir, sandbox, api_key)
    first = run_cli(data_dir, "webhook", "register", "acme", "--url", PUBLIC)
    assert first.code == 0, first.output
    assert "Created reporting webhook" in first.stdout and "(disabled)" in first.stdout
    [hook] = sandbox.webhooks()
    assert hook["endpoint"] == URL and hook["disabled"] is True
    assert sorted(hook["events"]) == ALL_EVENTS
    assert hook["full_resolution"] is False and hook["with_content"] is False

    again = run_cli(data_dir, "webhook", "register", "acme", "--url", PUBLIC)
    assert again.code == 0 and "Found reporting webhook" in again.stdout
    assert len(sandbox.webhooks()) == 1  # matched by its endpoint URL: nothing new

    signing_key = sandbox.signing_key(hook["id"])
    stored = _signing_key(data_dir, signing_key)
    assert stored.returncode == 0, stored.stderr
    assert "enabled" in stored.stdout and signing_key not in stored.stdout
    assert sandbox.webhooks()[0]["disabled"] is False
    store = StateStore(data_dir)
    assert store.get_source("acme").signing_key is not None

    status = run_cli(data_dir, "webhook", "status", "acme")
    assert status.code == 0 and f"id {hook['id']}, enabled" in status.stdout
    assert "Waiting for the first delivery" in status.stdout

    removed = run_cli(data_dir, "source", "remove", "acme")
    assert removed.code == 0 and "Warning" not in removed.stdout
    assert sandbox.webhooks() == []


def test_selected_tables_drive_the_subscribed_events(
    store: StateStore, sandbox: SandboxServer, api_key: str
) -> None:
    from cio_warehouse.secret import Secret
    from cio_warehouse.sources import link_source

    link_source(store, "acme", region="us", app_api_key=Secret(api_key),
                api_base_url=sandbox.url, tables=["campaigns", "email_events"])
    outcome = webhook_links.register(store, "acme", PUBLIC)
    assert outcome.ok and all(e.startswith("email_") for e in outcome.events)
    webhook_links.update_tables(store, "acme", ("campaigns", "sms_events", "customer_events"))
    [hook] = sandbox.webhooks()
    assert {e.split("_", 1)[0] for e in hook["events"]} == {"sms", "customer"}
    assert "customer_subscription_preferences_changed" in hook["events"]


def test_registration_failure_prints_the_manual_steps(
    data_dir: DataDir, workspace: Workspace, api_key: str
) -> None:
    with SandboxServer(workspace, api_key=api_key,
                       forbidden_paths=["/v1/reporting_webhooks"]) as sandbox:
        _link(data_dir, sandbox, api_key)
        result = run_cli(data_dir, "webhook", "register", "acme", "--url", PUBLIC)
    assert result.code == 1
    text = " ".join(result.stdout.split())
    assert "could not be registered automatically" in text
    assert "may not manage reporting webhooks" in text
    assert "Data & Integrations > Integrations > Reporting Webhooks" in text
    assert URL in text and "email_opened" in text
    assert "webhook signing-key" in text


def test_unusable_public_url_prints_the_manual_steps(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    _link(data_dir, sandbox, api_key)
    result = run_cli(data_dir, "webhook", "register", "acme", "--url", "cio.example.com")
    assert result.code == 1
    assert "not an absolute http(s) URL" in result.stdout
    assert sandbox.webhooks() == []


def test_signing_key_before_registration_is_kept(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    _link(data_dir, sandbox, api_key)
    stored = _signing_key(data_dir, "whsec-" + "ab" * 16)
    assert stored.returncode == 0 and "No webhook is registered yet" in stored.stdout
    rotated = _signing_key(data_dir, "whsec-" + "cd" * 16)
    assert "previous key stays valid" in rotated.stdout
    source = StateStore(data_dir).get_source("acme")
    assert source.previous_signing_key is not None
    assert source.previous_signing_key.reveal() == "whsec-" + "ab" * 16


def test_live_event_names_register_with_the_spec_list(
    data_dir: DataDir, workspace: Workspace, api_key: str
) -> None:
    """docs/customerio-behaviour.md: a live create refuses names outside the delivery spec; we
    subscribe to the spec's list. The one name we read past the enum, push_drafted (its enum
    says "attempted"), the sandbox reads literally and refuses: it is left out and said."""
    with SandboxServer(workspace, api_key=api_key, webhook_events="live") as sandbox:
        _link(data_dir, sandbox, api_key)
        result = run_cli(data_dir, "webhook", "register", "acme", "--url", PUBLIC)
        [hook] = sandbox.webhooks()
    assert result.code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Customer.io refused 1 event name (push_drafted)" in text
    assert sorted(hook["events"]) == [e for e in ALL_EVENTS if e != "push_drafted"]


def test_refused_event_names_are_left_out_and_said(
    data_dir: DataDir, workspace: Workspace, api_key: str
) -> None:
    """A workspace that answers 400 naming in_app_* (PostHog: the App API enum lacks them):
    registered without them, said by register and by status, no manual steps."""
    refused = [e for e in ALL_EVENTS if e.startswith("in_app_")] + ["push_drafted"]
    with SandboxServer(workspace, api_key=api_key, webhook_events="live",
                       refused_webhook_events=refused) as sandbox:
        _link(data_dir, sandbox, api_key)
        result = run_cli(data_dir, "webhook", "register", "acme", "--url", PUBLIC)
        [hook] = sandbox.webhooks()
        status = run_cli(data_dir, "webhook", "status", "acme")
    assert result.code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Created reporting webhook" in text and "manual" not in text.lower()
    assert f"Customer.io refused {len(refused)} event names" in text
    assert all(name in text for name in refused)
    assert sorted(hook["events"]) == sorted(set(ALL_EVENTS) - set(refused))
    status_text = " ".join(status.stdout.split())
    assert status.code == 0 and "The webhook is not subscribed to" in status_text
    assert all(name in status_text for name in refused)
