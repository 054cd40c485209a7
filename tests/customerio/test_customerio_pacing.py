"""The rate limiter: at most N request starts in any sliding window, across threads."""

from __future__ import annotations

import threading

import pytest
from cio_fakes import FakeClock

from cio_warehouse.customerio import RateLimiter
from cio_warehouse.customerio.pacing import SAFETY_MARGIN_SECONDS

pytestmark = pytest.mark.timeout(30)


def assert_window_property(grants: list[float], max_requests: int, window: float) -> None:
    """No `max_requests + 1` grants fit in any window of `window` seconds."""
    grants = sorted(grants)
    for first, later in zip(grants, grants[max_requests:], strict=False):
        assert later - first >= window - 1e-9, (first, later)


def test_fake_clock_bursts_then_waits_a_window_plus_margin() -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    grants = [limiter.acquire() for _ in range(25)]
    window = 1.0 + SAFETY_MARGIN_SECONDS
    assert grants[:10] == [0.0] * 10
    assert grants[10:20] == pytest.approx([window] * 10)
    assert grants[20:] == pytest.approx([2 * window] * 5)
    assert_window_property(grants, 10, 1.0 + SAFETY_MARGIN_SECONDS)


def test_fake_clock_steady_trickle_is_not_delayed() -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        limiter.acquire()
        clock.now += 0.2  # 5 rps: well under the limit
    assert clock.sleeps == []


@pytest.mark.parametrize("disabled", [None, 0])
def test_disabled_limiter_never_sleeps(disabled: int | None) -> None:
    clock = FakeClock(now=0.0)
    limiter = RateLimiter(disabled, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.acquire()
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
            granted = limiter.acquire()
            with lock:
                grants.append(granted)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(grants) == 30
    assert_window_property(grants, max_requests, per_seconds + SAFETY_MARGIN_SECONDS)
