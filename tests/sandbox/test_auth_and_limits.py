"""Bearer auth (401 in varied shapes), scoped keys (403) and the 10 requests/second limit (429)."""

from __future__ import annotations

import time

import httpx

from cio_warehouse.sandbox import TABLES, SandboxServer, Workspace

from .conftest import KEY, client_for

PATHS = ["/v1/workspaces", "/v1/reporting_webhooks", *(spec.path for spec in TABLES.values())]


def body_shape(response: httpx.Response) -> str:
    if not response.headers["content-type"].startswith("application/json"):
        return "text"
    body = response.json()
    return "meta" if "meta" in body else "errors"


def test_wrong_missing_or_malformed_key_is_401(sb: SandboxServer) -> None:
    headers_list = [
        {}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"}, {"Authorization": f"Bearer {KEY}x"},
    ]
    with httpx.Client(base_url=sb.url) as c:
        for headers in headers_list:
            assert c.get("/v1/campaigns", headers=headers).status_code == 401


def test_401_bodies_vary_like_the_real_api(sb: SandboxServer) -> None:
    with client_for(sb, key="wrong") as c:
        responses = [c.get(path) for path in PATHS]
    assert {r.status_code for r in responses} == {401}
    assert {body_shape(r) for r in responses} == {"meta", "errors", "text"}
    assert all(KEY not in r.text for r in responses)


def test_forbidden_paths_are_403_others_not() -> None:
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=None,
                       forbidden_paths=["/v1/segments", "/v1/reporting_webhooks"]) as server, \
            client_for(server) as c:
        assert c.get("/v1/segments").status_code == 403
        assert c.post("/v1/reporting_webhooks", json={}).status_code == 403
        assert c.get("/v1/campaigns").status_code == 200
        assert c.get("/v1/workspaces").status_code == 200
        with client_for(server, key="wrong") as bad:
            assert bad.get("/v1/segments").status_code == 401  # the key is checked first


def test_eleventh_request_in_a_second_is_429() -> None:
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY) as server, client_for(server) as c:
        statuses = [c.get("/v1/campaigns").status_code for _ in range(15)]
        first = server.requests()[0].monotonic
        last = server.requests()[-1].monotonic
        if last - first < 1.0:  # on a very slow machine the window may have moved on
            assert statuses[:10] == [200] * 10
            assert set(statuses[10:]) == {429}
        too_many = c.get("/v1/campaigns")
        if too_many.status_code == 429:
            # Undocumented, but live 429s carry Retry-After: whole seconds until there is room.
            assert too_many.headers["retry-after"] == "1"
        time.sleep(1.05)
        assert c.get("/v1/campaigns").status_code == 200


def test_docs_switch_sends_429_without_retry_after() -> None:
    """docs/customerio-behaviour.md: Customer.io documents no Retry-After on 429."""
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=1,
                       rate_limit_retry_after=False) as server, client_for(server) as c:
        responses = [c.get("/v1/campaigns") for _ in range(3)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all("retry-after" not in r.headers for r in limited)


def test_limit_counts_every_authenticated_request_but_not_bad_keys() -> None:
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY) as server:
        with client_for(server, key="wrong") as bad:
            assert {bad.get("/v1/campaigns").status_code for _ in range(12)} == {401}
        with client_for(server) as c:
            statuses = [c.get(path).status_code for path in ("/v1/nothing", "/v1/segments") * 6]
        assert 429 in statuses
        assert statuses.count(200) + statuses.count(404) <= 10


def test_rate_limit_off_and_configurable() -> None:
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=3) as server, \
            client_for(server) as c:
        statuses = [c.get("/v1/workspaces").status_code for _ in range(5)]
        assert statuses.count(200) >= 3 and 429 in statuses
    with SandboxServer(Workspace.preset("tiny"), api_key=KEY, rate_limit_rps=None) as server, \
            client_for(server) as c:
        assert {c.get("/v1/workspaces").status_code for _ in range(40)} == {200}


def test_request_log(sb: SandboxServer, client: httpx.Client) -> None:
    sb.clear_requests()
    before = time.time()
    client.get("/v1/newsletters", params={"limit": 5})
    client.get("/v1/nope")
    httpx.get(sb.url + "/_sandbox/requests")  # control routes are not App API traffic
    log = sb.requests()
    assert [(e.method, e.path, e.query, e.status) for e in log] == [
        ("GET", "/v1/newsletters", "limit=5", 200), ("GET", "/v1/nope", "", 404),
    ]
    assert before - 1 <= log[0].time <= time.time()
    assert log[0].monotonic <= log[1].monotonic <= time.monotonic()
    over_http = httpx.get(sb.url + "/_sandbox/requests").json()["requests"]
    assert over_http == [entry.to_json() for entry in log]
    assert httpx.delete(sb.url + "/_sandbox/requests").status_code == 200
    assert sb.requests() == []
