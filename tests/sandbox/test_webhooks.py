"""Reporting webhooks CRUD in memory, and the signing key that no API response ever contains."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace

from .conftest import KEY, client_for, example


@pytest.fixture
def hooks() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    """A fresh sandbox per test: webhook ids and keys start from scratch."""
    with SandboxServer(Workspace.preset("tiny", seed=5), api_key=KEY, rate_limit_rps=None) as s, \
            client_for(s) as c:
        yield s, c


def create(client: httpx.Client, **changes: Any) -> httpx.Response:
    return client.post("/v1/reporting_webhooks",
                       json={**example("reporting_webhook_create_request"), **changes})


def test_crud_round_trip(hooks: tuple[SandboxServer, httpx.Client]) -> None:
    sb, client = hooks
    created = create(client)
    assert created.status_code == 200
    hook = created.json()
    published = example("reporting_webhook_get")
    assert set(hook) == set(published)
    assert isinstance(hook["id"], int) and hook["type"] == "webhook"
    assert {k: v for k, v in hook.items() if k != "id"} == {
        k: v for k, v in published.items() if k != "id"
    }
    assert client.get(f"/v1/reporting_webhooks/{hook['id']}").json() == hook
    assert client.get("/v1/reporting_webhooks").json() == {"reporting_webhooks": [hook]}
    assert sb.webhooks() == [hook]

    replaced = client.put(f"/v1/reporting_webhooks/{hook['id']}", json={
        "name": "renamed", "endpoint": "https://example.com/other", "events": ["sms_sent"],
        "disabled": True,
    })
    assert replaced.status_code == 200
    # PUT replaces the whole object: what it leaves out goes back to the defaults.
    assert replaced.json() == {
        "name": "renamed", "id": hook["id"], "type": "webhook",
        "endpoint": "https://example.com/other", "events": ["sms_sent"], "disabled": True,
        "full_resolution": True, "with_content": False,
    }
    deleted = client.delete(f"/v1/reporting_webhooks/{hook['id']}")
    assert deleted.status_code == 200 and deleted.content == b""
    assert client.get("/v1/reporting_webhooks").json() == {"reporting_webhooks": []}


def test_defaults_and_increasing_ids(hooks: tuple[SandboxServer, httpx.Client]) -> None:
    _, client = hooks
    body = {"name": "n", "endpoint": "https://example.com/a", "events": ["email_opened"]}
    first = client.post("/v1/reporting_webhooks", json=body).json()
    second = client.post("/v1/reporting_webhooks", json=body).json()
    assert second["id"] > first["id"]
    assert (first["disabled"], first["full_resolution"], first["with_content"]) == (
        False, True, False)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_id_is_404(hooks: tuple[SandboxServer, httpx.Client], method: str) -> None:
    _, client = hooks
    body = example("reporting_webhook_create_request") if method == "PUT" else None
    response = client.request(method, "/v1/reporting_webhooks/999", json=body)
    assert response.status_code == 404


@pytest.mark.parametrize("changes", [
    {"name": None}, {"name": ""}, {"endpoint": None}, {"endpoint": "ftp://x"},
    {"events": None}, {"events": []}, {"events": ["email_teleported"]}, {"disabled": "no"},
])
def test_bad_bodies_are_400(hooks: tuple[SandboxServer, httpx.Client],
                            changes: dict[str, Any]) -> None:
    sb, client = hooks
    body = {**example("reporting_webhook_create_request"), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    assert client.post("/v1/reporting_webhooks", json=body).status_code == 400
    hook = create(client).json()
    assert client.put(f"/v1/reporting_webhooks/{hook['id']}", json=body).status_code == 400
    assert client.post("/v1/reporting_webhooks", content=b"not json").status_code == 400
    assert sb.webhooks() == [hook]


def test_signing_key_is_never_returned(hooks: tuple[SandboxServer, httpx.Client]) -> None:
    sb, client = hooks
    responses = [create(client), create(client, endpoint="https://example.com/2")]
    ids = [r.json()["id"] for r in responses]
    responses += [client.get("/v1/reporting_webhooks")]
    responses += [client.get(f"/v1/reporting_webhooks/{i}") for i in ids]
    responses += [client.put(f"/v1/reporting_webhooks/{ids[0]}",
                             json=example("reporting_webhook_create_request"))]
    keys = [sb.signing_key(i) for i in ids]
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys) and keys[0] != keys[1]
    for response in responses:
        for key in keys:
            assert key not in response.text
        assert "signing" not in response.text and "secret" not in response.text
    # The user "copies it from the UI": the control route.
    control = httpx.get(f"{sb.url}/_sandbox/reporting_webhooks/{ids[0]}/signing_key")
    assert control.json() == {"signing_key": keys[0]}
    assert httpx.get(f"{sb.url}/_sandbox/reporting_webhooks/999/signing_key").status_code == 404
    with pytest.raises(KeyError):
        sb.signing_key(999)


def test_signing_keys_are_deterministic_by_seed() -> None:
    def first_key(seed: int) -> str:
        with SandboxServer(Workspace.preset("tiny", seed), api_key=KEY,
                           rate_limit_rps=None) as s, client_for(s) as c:
            hook = create(c).json()
            key: str = s.signing_key(hook["id"])
            return key

    assert first_key(1) == first_key(1) != first_key(2)


def test_enabled_webhooks_are_ready_for_the_sender(
    hooks: tuple[SandboxServer, httpx.Client]
) -> None:
    sb, client = hooks
    create(client, disabled=True)
    enabled = create(client, endpoint="https://example.com/live").json()
    deliverable = sb.state.webhooks.deliverable()
    assert [d.webhook["id"] for d in deliverable] == [enabled["id"]]
    assert deliverable[0].signing_key == sb.signing_key(enabled["id"])


def test_docs_mode_accepts_every_known_name_live_mode_400_names_the_others() -> None:
    """docs/customerio-behaviour.md: which names create accepts is not settled. The docs'
    reading takes every name the docs use; the live-like one only the delivery spec's."""
    docs_names = ["email_sent", "email_deferred", "sms_dropped", "slack_undeliverable"]
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=None) as docs, \
            client_for(docs) as client:
        assert create(client, events=docs_names).status_code == 200
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=None,
                       webhook_events="live", refused_webhook_events=["in_app_opened"]) as live, \
            client_for(live) as client:
        refused = create(client, events=[*docs_names, "in_app_opened", "in_app_sent"])
        assert refused.status_code == 400
        for name in ("email_deferred", "sms_dropped", "in_app_opened"):
            assert name in refused.text
        for name in ("email_sent", "slack_undeliverable", "in_app_sent"):
            assert name not in refused.text
        ok = create(client, events=["email_sent", "slack_undeliverable", "in_app_sent"])
        assert ok.status_code == 200


def test_spec_events_are_the_delivery_spec_enums() -> None:
    """SPEC_EVENTS is the sandbox's own reading of the spec's per-channel metric enums."""
    from cio_warehouse.sandbox.webhooks import SPEC_EVENTS

    from .spec_schema import metric_branches

    names = {
        f"{object_type}_{metric}"
        for object_type, _, metrics in metric_branches() for metric in metrics
    }
    assert names == SPEC_EVENTS
