"""The rate limiter: at most N request starts in any sliding window, across threads."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cio_fakes import FakeClock

from cio_warehouse.customerio import RateLimiter
from cio_warehouse.customerio.pacing import SAFETY_MARGIN_SECONDS

pytestmark = pytest.mark.timeout(30)


def _leave_now(limiter: RateLimiter) -> float:
    """A request that leaves as soon as it is granted: the grant time."""
    with limiter.hold() as slot:
        return slot.granted


def assert_window_property(grants: list[float], max_requests: int, window: float) -> None:
    """No `max_requests + 1` grants fit in any window of `window` seconds."""
    grants = sorted(grants)
    for first, later in zip(grants, grants[max_requests:], strict=False):
        assert later - first >= window - 1e-9, (first, later)


def test_fake_clock_bursts_then_waits_a_window_plus_margin() -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    grants = [_leave_now(limiter) for _ in range(25)]
    window = 1.0 + SAFETY_MARGIN_SECONDS
    assert grants[:10] == [0.0] * 10
    assert grants[10:20] == pytest.approx([window] * 10)
    assert grants[20:] == pytest.approx([2 * window] * 5)
    assert_window_property(grants, 10, 1.0 + SAFETY_MARGIN_SECONDS)


def test_fake_clock_steady_trickle_is_not_delayed() -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        _leave_now(limiter)
        clock.now += 0.2  # 5 rps: well under the limit
    assert clock.sleeps == []


@pytest.mark.parametrize("disabled", [None, 0])
def test_disabled_limiter_never_sleeps(disabled: int | None) -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(disabled, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        _leave_now(limiter)
    assert clock.sleeps == []
    assert not limiter.enabled
    assert "disabled" in repr(limiter)


@pytest.mark.parametrize(
    "kwargs", [{"max_requests": -1}, {"per_seconds": 0}, {"margin_seconds": -0.1}]
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_window_property_holds_across_threads_in_real_time() -> None:
    max_requests, per_seconds = 4, 0.1
    limiter = RateLimiter(max_requests, per_seconds)
    grants: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        for _ in range(5):
            granted = _leave_now(limiter)
            with lock:
                grants.append(granted)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(grants) == 30
    assert_window_property(grants, max_requests, per_seconds + SAFETY_MARGIN_SECONDS)


def test_a_request_counts_from_when_it_left_not_from_its_grant() -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(2, 1.0, margin_seconds=0.0, clock=clock, sleep=clock.sleep)
    with limiter.hold() as late:
        clock.now = 0.3  # a slow connection: the request leaves 0.3 s after its grant
        late.sent()
    assert _leave_now(limiter) == 0.3
    # Two requests were counted at 0.3: the next one waits for 1.3, not for 1.0.
    assert _leave_now(limiter) == pytest.approx(1.3)


def test_a_request_in_flight_keeps_its_place_until_it_is_counted() -> None:
    limiter = RateLimiter(1, 0.05, margin_seconds=0.0)
    granted_second: list[float] = []
    with limiter.hold() as first:
        waiter = threading.Thread(target=lambda: granted_second.append(_leave_now(limiter)))
        waiter.start()
        waiter.join(timeout=0.3)
        assert waiter.is_alive()  # the window cannot expire a request that has not left yet
        first.sent()
    waiter.join(timeout=5)
    assert granted_second and granted_second[0] - first.counted_at >= 0.05 - 1e-9


def test_a_real_http_request_is_counted_when_it_reaches_the_server_not_when_answered() -> None:
    arrivals: list[float] = []

    class SlowHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            arrivals.append(time.monotonic())
            time.sleep(0.3)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    limiter = RateLimiter(10, 1.0)
    try:
        with limiter.hold() as slot, httpx.Client() as client:
            client.get(f"http://127.0.0.1:{server.server_port}/", extensions={"trace": slot.trace})
            answered = time.monotonic()
    finally:
        server.shutdown()
        server.server_close()
    # Counted as its headers left: the server saw them within a hair (before or after).
    assert abs(slot.counted_at - arrivals[0]) < 0.1
    assert answered - slot.counted_at >= 0.3  # not at the answer
