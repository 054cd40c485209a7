"""AppAPIClient requests: auth, retries on each transient kind, bounds, error classification."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from cio_fakes import KEY, KEY_TEXT, FakeClock, Script, json_response, make_client

from cio_warehouse.customerio import (
    USER_AGENT,
    AppAPIClient,
    ClientSettings,
    CustomerIOError,
    DataError,
    KeyRejectedError,
    NotFoundError,
    RateLimiter,
    RequestStats,
    ScopeMissingError,
    TransientError,
)
from cio_warehouse.customerio.errors import RequestError, RetriesExhaustedError
from cio_warehouse.customerio.pacing import Slot

pytestmark = pytest.mark.timeout(10)

OK = {"workspaces": [{"id": "ws1", "name": "Acme"}]}
PATH = "/v1/workspaces"


def _request() -> httpx.Request:
    return httpx.Request("GET", "https://api.customer.io" + PATH)


def test_sends_bearer_key_user_agent_and_returns_workspaces() -> None:
    script = Script(json_response(OK))
    with make_client(script) as client:
        assert client.check_key() == OK["workspaces"]
    request = script.requests[0]
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {KEY_TEXT}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("cio-warehouse/")
    assert request.headers["Accept"] == "application/json"


def test_key_is_not_in_client_repr_or_default_headers() -> None:
    client = make_client(Script())
    assert KEY_TEXT not in repr(client)
    assert KEY_TEXT not in repr(client._http.headers)
    assert "Authorization" not in client._http.headers
    client.close()


def test_timeouts_come_from_settings() -> None:
    settings = ClientSettings(connect_timeout=3.0, read_timeout=12.0)
    with make_client(Script(), settings=settings) as client:
        timeout = client._http.timeout
    assert (timeout.connect, timeout.read) == (3.0, 12.0)
    assert (ClientSettings().connect_timeout, ClientSettings().read_timeout) == (10.0, 30.0)


@pytest.mark.parametrize(
    "failure",
    [
        json_response({"meta": {"error": "slow down"}}, 429),
        json_response({}, 500),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(504, text="gateway timeout"),
        httpx.Response(520, text="odd 5xx"),
        httpx.ConnectError("connection refused", request=_request()),
        httpx.ConnectTimeout("connect timed out", request=_request()),
        httpx.ReadTimeout("read timed out", request=_request()),
        httpx.ReadError("connection reset by peer", request=_request()),
        httpx.RemoteProtocolError("peer closed connection mid-body", request=_request()),
        httpx.Response(200, content=b'{"workspaces": [{"id": "ws'),  # truncated body
        httpx.Response(200, content=b""),
    ],
    ids=lambda f: type(f).__name__ if isinstance(f, Exception) else f"HTTP{f.status_code}",
)
def test_each_transient_kind_is_retried(
    failure: httpx.Response | Exception, clock: FakeClock
) -> None:
    script = Script(failure, json_response(OK))
    stats = RequestStats()
    with make_client(script, clock=clock) as client:
        assert client.get_json(PATH, stats=stats) == OK
    assert len(script.requests) == 2
    assert (stats.requests, stats.retries, stats.last_status) == (2, 1, 200)
    assert len(clock.sleeps) == 1
    assert 0.0 <= clock.sleeps[0] <= 0.5  # first backoff: full jitter under the 0.5 s base


def test_retry_after_seconds_is_honoured(clock: FakeClock) -> None:
    script = Script(json_response({}, 429, **{"Retry-After": "7"}), json_response(OK))
    with make_client(script, clock=clock) as client:
        client.get_json(PATH)
    # Never sooner than asked, and up to a second later (jitter spreads concurrent tables).
    assert len(clock.sleeps) == 1
    assert 7.0 <= clock.sleeps[0] <= 8.0


def test_retry_after_http_date_is_honoured(clock: FakeClock) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    script = Script(json_response({}, 503, **{"Retry-After": when}), json_response(OK))
    with make_client(script, clock=clock) as client:
        client.get_json(PATH)
    assert len(clock.sleeps) == 1
    # The date has whole seconds and the test takes some time; then up to 1 s of jitter.
    assert 17.0 <= clock.sleeps[0] <= 21.0


def test_retry_after_garbage_falls_back_to_backoff_and_huge_is_capped(clock: FakeClock) -> None:
    script = Script(
        json_response({}, 429, **{"Retry-After": "whenever"}),
        json_response({}, 429, **{"Retry-After": "86400"}),
        json_response(OK),
    )
    with make_client(script, clock=clock) as client:
        client.get_json(PATH)
    assert 0.0 <= clock.sleeps[0] <= 0.5
    assert 60.0 <= clock.sleeps[1] <= 61.0


def test_attempts_are_bounded_then_a_clear_error(clock: FakeClock) -> None:
    script = Script(*[httpx.Response(503, text="upstream down")] * 8)
    with make_client(script, clock=clock) as client, pytest.raises(RetriesExhaustedError) as info:
        client.get_json("/v1/segments")
    error = info.value
    assert len(script.requests) == 8
    assert len(clock.sleeps) == 7
    assert error.status == 503
    assert error.path == "/v1/segments"
    assert error.attempts == 8
    message = str(error)
    assert "GET /v1/segments" in message
    assert "8 attempts" in message
    assert "HTTP 503 (upstream down)" in message
    assert isinstance(error, TransientError)


def test_total_retry_time_is_bounded(clock: FakeClock) -> None:
    steps = [json_response({}, 503, **{"Retry-After": "4"})] * 3
    script = Script(*steps)
    settings = ClientSettings(max_rps=None, max_retry_seconds=10.0)
    with (
        make_client(script, clock=clock, settings=settings) as client,
        pytest.raises(RetriesExhaustedError) as info,
    ):
        client.get_json(PATH)
    # Waited 4 + 4 (plus jitter); a third wait would end past the 10 s budget: it gives up.
    assert len(clock.sleeps) == 2
    assert all(4.0 <= sleep <= 5.0 for sleep in clock.sleeps)
    assert info.value.attempts == 3
    assert re.search(r"3 attempts over [89]\.\d s", str(info.value))


def test_exhausted_on_exceptions_names_the_last_one(clock: FakeClock) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused", request=_request())
    script = Script(*[refused] * 3)
    settings = ClientSettings(max_rps=None, max_attempts=3)
    with (
        make_client(script, clock=clock, settings=settings) as client,
        pytest.raises(RetriesExhaustedError, match=r"3 attempts.*ConnectError: \[Errno 111\]"),
    ):
        client.get_json(PATH)


def test_body_never_json_becomes_a_data_error(clock: FakeClock) -> None:
    script = Script(*[httpx.Response(200, text="<html>maintenance</html>")] * 2)
    settings = ClientSettings(max_rps=None, max_attempts=2)
    with (
        make_client(script, clock=clock, settings=settings) as client,
        pytest.raises(DataError, match="not JSON") as info,
    ):
        client.get_json(PATH)
    assert "<html>maintenance</html>" in str(info.value)
    assert len(script.requests) == 2


def test_json_that_is_not_an_object_is_a_data_error() -> None:
    with (
        make_client(Script(json_response([1, 2]))) as client,
        pytest.raises(DataError, match="not an object"),
    ):
        client.get_json(PATH)


def test_every_attempt_goes_through_the_limiter(clock: FakeClock) -> None:
    class CountingLimiter(RateLimiter):
        calls = 0

        def hold(self):  # type: ignore[no-untyped-def]
            self.calls += 1
            return super().hold()

    limiter = CountingLimiter(None)
    script = Script(httpx.Response(503), httpx.Response(429), json_response(OK))
    with make_client(script, clock=clock, limiter=limiter) as client:
        client.get_json(PATH)
    assert limiter.calls == 3


def test_default_limiter_follows_max_rps() -> None:
    assert make_client(Script(), settings=ClientSettings(max_rps=7)).limiter.max_requests == 7
    assert not make_client(Script(), settings=ClientSettings(max_rps=None)).limiter.enabled


# -- configuration and request errors: classified, never retried, never showing the key ----------


def test_401_explains_the_three_causes_and_the_other_region() -> None:
    script = Script(json_response({"meta": {"error": "Unauthorized"}}, 401))
    with make_client(script) as client, pytest.raises(KeyRejectedError) as info:
        client.check_key()
    message = str(info.value)
    assert message.startswith("Customer.io rejected the App API key (HTTP 401")
    assert "revoked" in message
    assert "Track API key" in message
    assert "Settings > Account Settings > API Credentials > App API Keys" in message
    assert "region us, api.customer.io" in message
    assert "use region 'eu'" in message
    assert "IP allowlist" in message  # a workspace may admit the App API from listed IPs only
    assert (info.value.status, info.value.path) == (401, PATH)
    assert len(script.requests) == 1


def test_401_in_eu_suggests_us() -> None:
    script = Script(httpx.Response(401))
    with make_client(script, region="eu") as client, pytest.raises(KeyRejectedError) as info:
        client.check_key()
    assert "region eu, api-eu.customer.io" in str(info.value)
    assert "use region 'us'" in str(info.value)


def test_403_names_the_resource_the_key_cannot_read() -> None:
    script = Script(json_response({"errors": [{"detail": "forbidden"}]}, 403))
    with make_client(script) as client, pytest.raises(ScopeMissingError) as info:
        client.get_json("/v1/segments")
    message = str(info.value)
    assert "may not read segments" in message
    assert "full access" in message
    assert "IP allowlist" in message
    assert info.value.resource == "segments"
    assert (info.value.status, info.value.path) == (403, "/v1/segments")
    assert len(script.requests) == 1


def test_404_is_not_found() -> None:
    script = Script(httpx.Response(404, text="Not Found"))
    with make_client(script) as client, pytest.raises(NotFoundError) as info:
        client.get_json("/v1/reporting_webhooks/9")
    assert info.value.status == 404
    assert "GET /v1/reporting_webhooks/9" in str(info.value)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (json_response({"meta": {"error": "limit too large"}}, 400), '"limit too large"'),
        (json_response({"errors": [{"detail": "bad field"}]}, 422), '"bad field"'),
        (httpx.Response(409, text="<html>\n  <b>Conflict</b>\n</html>"), "<html> <b>Conflict"),
        (httpx.Response(418, text=""), "(empty body)"),
        (httpx.Response(400, text="x" * 5000), "xxx..."),
    ],
)
def test_other_4xx_is_a_request_error_with_a_short_excerpt(
    response: httpx.Response, expected: str
) -> None:
    script = Script(response)
    with make_client(script) as client, pytest.raises(RequestError) as info:
        client.get_json(PATH)
    assert info.value.status == response.status_code
    assert expected in str(info.value)
    assert len(info.value.body_excerpt) <= 200
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, text=f"bad token Bearer {KEY_TEXT}"),
        httpx.Response(403, text=f"key {KEY_TEXT} lacks scope"),
        httpx.Response(400, text=f"echo: Authorization: Bearer {KEY_TEXT}"),
        httpx.Response(503, text=f"echo {KEY_TEXT}"),
        httpx.Response(200, text=f"<html>{KEY_TEXT}"),
    ],
    ids=["401", "403", "400", "503", "200-not-json"],
)
def test_no_error_ever_contains_the_key(response: httpx.Response, clock: FakeClock) -> None:
    settings = ClientSettings(max_rps=None, max_attempts=2)
    script = Script(response, response)
    with (
        make_client(script, clock=clock, settings=settings) as client,
        pytest.raises(CustomerIOError) as info,
    ):
        client.get_json(PATH)
    error = info.value
    for text in (str(error), repr(error), *map(str, error.args)):
        assert KEY_TEXT not in text
    assert KEY_TEXT not in repr(vars(error))


def test_redirect_is_not_followed() -> None:
    script = Script(httpx.Response(301, headers={"Location": "https://elsewhere.example/"}))
    with make_client(script) as client, pytest.raises(CustomerIOError, match="API base URL"):
        client.get_json(PATH)
    assert len(script.requests) == 1


def test_works_with_a_real_sleep_and_rng_by_default() -> None:
    client = AppAPIClient(
        KEY,
        settings=ClientSettings(max_rps=None),
        transport=httpx.MockTransport(Script(json_response(OK))),
        rng=random.Random(1),
    )
    with client:
        assert client.check_key() == OK["workspaces"]


def test_check_key_rejects_an_unexpected_shape() -> None:
    with (
        make_client(Script(json_response({"workspaces": "all"}))) as client,
        pytest.raises(DataError, match="workspaces"),
    ):
        client.check_key()


@pytest.mark.parametrize("kwargs", [{"page_limit": 0}, {"max_attempts": 0}, {"read_timeout": 0}])
def test_settings_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ClientSettings(**kwargs)  # type: ignore[arg-type]


def test_one_client_and_limiter_serve_several_threads() -> None:
    counted: list[float] = []  # when each request was counted: it left (or was answered)
    lock = threading.Lock()

    class RecordingLimiter(RateLimiter):
        @contextmanager
        def hold(self) -> Iterator[Slot]:
            with super().hold() as slot:
                yield slot
            with lock:
                counted.append(slot.counted_at)

    def answer(request: httpx.Request) -> httpx.Response:
        return json_response({"segments": [{"id": request.url.params["n"]}]})

    limiter = RecordingLimiter(5, 0.05)
    client = AppAPIClient(KEY, limiter=limiter, transport=httpx.MockTransport(answer))
    results: list[str] = []

    def worker(index: int) -> None:
        for i in range(5):
            body = client.get_json("/v1/segments", {"n": f"{index}-{i}"})
            with lock:
                results.append(body["segments"][0]["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    client.close()
    assert sorted(results) == sorted(f"{n}-{i}" for n in range(4) for i in range(5))
    counted.sort()
    for first, later in zip(counted, counted[5:], strict=False):
        assert later - first >= limiter.window - 1e-9
