"""Reporting-webhook management: envelopes, whole-object PUT, 404 on delete, no unsafe retries."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cio_fakes import FakeClock, Script, json_response, make_client

from cio_warehouse.customerio import DataError, NotFoundError, TransientError

pytestmark = pytest.mark.timeout(10)


def webhook(**overrides: Any) -> dict[str, Any]:
    """A reporting webhook as GET returns it (customerio-api.md: object fields, integer id)."""
    return {
        "id": 4,
        "name": "cio-warehouse",
        "type": "webhook",
        "endpoint": "https://example.com/webhooks/customerio/acme",
        "events": ["email_sent", "email_opened"],
        "disabled": True,
        "full_resolution": False,
        "with_content": False,
        **overrides,
    }


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_list_unwraps_the_envelope() -> None:
    script = Script(json_response({"reporting_webhooks": [webhook(), webhook(id=5)]}))
    with make_client(script) as client:
        hooks = client.list_reporting_webhooks()
    assert [h["id"] for h in hooks] == [4, 5]
    assert script.requests[0].url.path == "/v1/reporting_webhooks"


def test_list_with_a_wrong_envelope_is_a_data_error() -> None:
    with (
        make_client(Script(json_response({"webhooks": []}))) as client,
        pytest.raises(DataError, match="reporting_webhooks"),
    ):
        client.list_reporting_webhooks()


def test_get_and_unknown_id() -> None:
    script = Script(json_response(webhook()), httpx.Response(404, text="not found"))
    with make_client(script) as client:
        assert client.get_reporting_webhook(4)["endpoint"].endswith("/acme")
        with pytest.raises(NotFoundError):
            client.get_reporting_webhook(99)
    assert [r.url.path for r in script.requests] == [
        "/v1/reporting_webhooks/4",
        "/v1/reporting_webhooks/99",
    ]


def test_ids_must_be_integers() -> None:
    with make_client(Script()) as client, pytest.raises(TypeError):
        client.get_reporting_webhook("4/../../workspaces")  # type: ignore[arg-type]


def test_create_sends_a_disabled_webhook_by_default() -> None:
    script = Script(json_response(webhook(id=12)))
    with make_client(script) as client:
        created = client.create_reporting_webhook(
            "cio-warehouse", "https://example.com/hook", ("email_sent", "email_opened")
        )
    assert created["id"] == 12
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/reporting_webhooks")
    assert sent_json(request) == {
        "name": "cio-warehouse",
        "endpoint": "https://example.com/hook",
        "events": ["email_sent", "email_opened"],
        "disabled": True,
        "full_resolution": False,
        "with_content": False,
    }


def test_create_needs_an_event() -> None:
    with make_client(Script()) as client, pytest.raises(ValueError, match="at least one event"):
        client.create_reporting_webhook("n", "https://example.com/hook", [])


@pytest.mark.parametrize("body", [{"name": "x"}, {"id": "12"}, [webhook()]])
def test_create_answer_without_an_integer_id_is_a_data_error(body: Any) -> None:
    with make_client(Script(json_response(body))) as client, pytest.raises(DataError):
        client.create_reporting_webhook("n", "https://example.com/hook", ["email_sent"])


def test_update_puts_the_whole_object_without_read_only_fields() -> None:
    current = webhook(disabled=True, future_field="kept")
    script = Script(json_response({**current, "disabled": False}))
    with make_client(script) as client:
        updated = client.update_reporting_webhook(4, {**current, "disabled": False})
    assert updated["disabled"] is False
    request = script.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/v1/reporting_webhooks/4")
    body = sent_json(request)
    assert "id" not in body and "type" not in body
    assert body == {
        "name": "cio-warehouse",
        "endpoint": "https://example.com/webhooks/customerio/acme",
        "events": ["email_sent", "email_opened"],
        "disabled": False,
        "full_resolution": False,
        "with_content": False,
        "future_field": "kept",
    }


def test_update_refuses_a_partial_object() -> None:
    with make_client(Script()) as client, pytest.raises(ValueError, match="missing: endpoint"):
        client.update_reporting_webhook(4, {"name": "x", "events": ["email_sent"]})


def test_delete_returns_true_then_false_when_already_gone() -> None:
    script = Script(httpx.Response(200), httpx.Response(404, text="Not Found"))
    with make_client(script) as client:
        assert client.delete_reporting_webhook(4) is True
        assert client.delete_reporting_webhook(4) is False
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


def _request(method: str) -> httpx.Request:
    return httpx.Request(method, "https://api.customer.io/v1/reporting_webhooks")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(504, text="gateway timeout"),
        httpx.ReadTimeout("read timed out", request=_request("POST")),
        httpx.RemoteProtocolError("peer closed connection", request=_request("POST")),
    ],
    ids=["500", "503", "504", "ReadTimeout", "RemoteProtocolError"],
)
def test_writes_are_not_repeated_once_they_may_have_been_applied(
    failure: httpx.Response | Exception,
) -> None:
    for call in (
        lambda c: c.create_reporting_webhook("n", "https://example.com/h", ["email_sent"]),
        lambda c: c.update_reporting_webhook(4, webhook()),
        lambda c: c.delete_reporting_webhook(4),
    ):
        script = Script(failure)
        with make_client(script) as client, pytest.raises(TransientError) as info:
            call(client)
        assert len(script.requests) == 1  # the Script fails the test on a second request
        assert "not repeated" in str(info.value)


def test_a_truncated_create_answer_is_not_repeated() -> None:
    script = Script(httpx.Response(200, content=b'{"id": 1'))
    with make_client(script) as client, pytest.raises(DataError, match="not repeated"):
        client.create_reporting_webhook("n", "https://example.com/h", ["email_sent"])


@pytest.mark.parametrize(
    "failure",
    [
        json_response({}, 429, **{"Retry-After": "2"}),
        httpx.ConnectError("connection refused", request=_request("POST")),
    ],
    ids=["429", "ConnectError"],
)
def test_writes_are_retried_when_the_server_never_acted(
    failure: httpx.Response | Exception, clock: FakeClock
) -> None:
    script = Script(failure, json_response(webhook(id=12)))
    with make_client(script, clock=clock) as client:
        assert client.create_reporting_webhook("n", "https://e.x/h", ["email_sent"])["id"] == 12
    assert [r.method for r in script.requests] == ["POST", "POST"]
    assert len(clock.sleeps) == 1
