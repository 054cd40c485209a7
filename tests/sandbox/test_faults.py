"""Each fault knob does what it says, set from Python and over HTTP, and is consumed as it fires."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import orjson
import pytest

from cio_warehouse.sandbox import (
    FailAlways,
    FaultError,
    Latency,
    RateLimited,
    RepeatCursor,
    SandboxServer,
    ServerError,
    Slow,
    TruncatedBody,
    fault_from_json,
    fault_to_json,
)


def statuses(client: httpx.Client, path: str, n: int) -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_rate_limited_with_retry_after_seconds(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([RateLimited(count=2, retry_after=3)])
    first = client.get("/v1/campaigns")
    assert first.status_code == 429 and first.headers["retry-after"] == "3"
    assert statuses(client, "/v1/campaigns", 2) == [429, 200]


def test_rate_limited_with_http_date(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([RateLimited(retry_after=2, retry_after_format="http_date")])
    response = client.get("/v1/segments")
    assert response.status_code == 429
    when = parsedate_to_datetime(response.headers["retry-after"]).timestamp()
    assert time.time() - 1 <= when <= time.time() + 3


def test_rate_limited_without_retry_after(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([RateLimited()])
    response = client.get("/v1/segments")
    assert response.status_code == 429 and "retry-after" not in response.headers


def test_rate_limited_for_seconds_is_a_busy_workspace(
    sb: SandboxServer, client: httpx.Client,
) -> None:
    """Every request gets 429 for `seconds` from the first it hits, whatever their number."""
    sb.set_faults([RateLimited(seconds=0.5, retry_after=1)])
    limited = statuses(client, "/v1/segments", 20)
    assert set(limited) == {429}
    time.sleep(0.55)
    assert statuses(client, "/v1/segments", 2) == [200, 200]
    assert sb.faults()[0]["fired"] == 20
    assert fault_to_json(RateLimited(seconds=60))["seconds"] == 60
    with pytest.raises(FaultError):
        fault_from_json({"kind": "rate_limited", "seconds": -1})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_burst(sb: SandboxServer, client: httpx.Client, status: int) -> None:
    sb.set_faults([ServerError(status=status, count=3)])
    assert statuses(client, "/v1/collections", 4) == [status] * 3 + [200]
    assert sb.faults()[0]["fired"] == 3


def test_after_lets_requests_through_first(sb: SandboxServer, client: httpx.Client) -> None:
    """A fault can land mid-paging: here on the third page of newsletters."""
    sb.set_faults([ServerError(path="/v1/newsletters", after=2, count=1)])
    first = client.get("/v1/newsletters")
    second = client.get("/v1/newsletters", params={"start": first.json()["next"]})
    third = client.get("/v1/newsletters", params={"start": second.json()["next"]})
    again = client.get("/v1/newsletters", params={"start": second.json()["next"]})
    assert [r.status_code for r in (first, second, third, again)] == [200, 200, 500, 200]


def test_path_targeting_and_default_scope(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([ServerError(path="/v1/segments", count=None)])
    assert client.get("/v1/campaigns").status_code == 200
    assert client.get("/v1/segments").status_code == 500
    sb.set_faults([ServerError(count=None)])  # default: every /v1/ path but the key check
    assert client.get("/v1/workspaces").status_code == 200
    assert client.get("/v1/transactional").status_code == 500
    sb.set_faults([ServerError(path="/v1/workspaces")])  # unless targeted explicitly
    assert client.get("/v1/workspaces").status_code == 500


def test_latency(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([Latency(ms=300, path="/v1/snippets")])
    started = time.monotonic()
    assert client.get("/v1/snippets").status_code == 200
    assert time.monotonic() - started >= 0.29  # a lower bound only: sleeping guarantees it
    assert sb.faults()[0]["fired"] == 0  # never consumed


def test_truncated_body_dropping_the_connection(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([TruncatedBody(mode="connection", path="/v1/segments")])
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/segments")
    assert client.get("/v1/segments").status_code == 200
    assert sb.requests()[-2].status == 200


def test_truncated_body_complete_response_with_cut_json(
    sb: SandboxServer, client: httpx.Client
) -> None:
    sb.set_faults([TruncatedBody(mode="json", path="/v1/segments")])
    response = client.get("/v1/segments")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    orjson.loads(client.get("/v1/segments").content)


def test_repeat_cursor(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([RepeatCursor(count=2)])
    first = client.get("/v1/newsletters").json()  # no start: nothing to repeat yet
    second = client.get("/v1/newsletters", params={"start": first["next"]}).json()
    assert second["next"] == first["next"]
    third = client.get("/v1/newsletters", params={"start": second["next"]}).json()
    assert third["next"] == first["next"]
    fourth = client.get("/v1/newsletters", params={"start": third["next"]}).json()
    assert fourth["next"] not in (first["next"], None, "")
    assert fourth["newsletters"] == second["newsletters"]


def test_slow_outlasts_the_read_timeout(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([Slow(seconds=2, path="/v1/broadcasts")])
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("/v1/broadcasts")
        assert impatient.get("/v1/broadcasts").status_code == 200


def test_fail_always(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([FailAlways(path="/v1/campaigns", status=502)])
    assert statuses(client, "/v1/campaigns", 12) == [502] * 12
    assert client.get("/v1/segments").status_code == 200
    assert "<html>" in client.get("/v1/campaigns").text


def test_first_due_knob_fires_others_wait(sb: SandboxServer, client: httpx.Client) -> None:
    sb.set_faults([ServerError(count=1), RateLimited(count=1)])
    assert statuses(client, "/v1/segments", 3) == [500, 429, 200]


def test_faults_over_http(sb: SandboxServer, client: httpx.Client) -> None:
    control = sb.url + "/_sandbox/faults"
    knobs = [{"kind": "server_error", "status": 503, "count": 2, "path": "/v1/segments"},
             {"kind": "latency_ms", "ms": 1}]
    armed = httpx.post(control, json=knobs)
    assert armed.status_code == 200 and len(armed.json()["faults"]) == 2
    assert statuses(client, "/v1/segments", 3) == [503, 503, 200]
    assert httpx.get(control).json()["faults"][0]["fired"] == 2
    assert httpx.post(control, json=[{"kind": "explode"}]).status_code == 400
    assert httpx.post(control, content=b"{not json").status_code == 400
    assert httpx.post(control, json={"kind": "slow"}).status_code == 400  # a list is required
    assert httpx.delete(control).json() == {"faults": []}
    assert sb.faults() == []


def test_knob_json_round_trip_and_validation() -> None:
    for knob in (RateLimited(retry_after=1.5, retry_after_format="http_date", after=3),
                 ServerError(status=504, count=None), Latency(ms=50, path="/v1/"),
                 TruncatedBody(mode="json"), RepeatCursor(), Slow(seconds=9), FailAlways()):
        assert fault_from_json(fault_to_json(knob)) == knob
    for bad in ({"kind": "server_error", "status": 404}, {"kind": "slow", "seconds": -1},
                {"kind": "rate_limited", "count": 0}, {"kind": "rate_limited", "after": -1},
                {"kind": "truncated_body", "mode": "half"}, {"kind": "latency_ms", "count": 2},
                {"kind": "slow", "path": "v1/x"}, {"kind": "fail_always", "colour": "red"}):
        with pytest.raises(FaultError):
            fault_from_json(bad)
