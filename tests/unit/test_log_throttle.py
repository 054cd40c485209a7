"""The log throttle: one line per key per interval, and a reset that lets the next one out."""

from __future__ import annotations

import time

import pytest

from cio_warehouse.log_throttle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_key_per_interval() -> None:
    clock = Clock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.allow(("a", "bad_signature"))
    assert not throttle.allow(("a", "bad_signature"))
    assert throttle.allow(("b", "bad_signature"))  # another key has its own interval
    clock.now += 59.9
    assert not throttle.allow(("a", "bad_signature"))
    clock.now += 0.1
    assert throttle.allow(("a", "bad_signature"))
    assert not throttle.allow(("a", "bad_signature"))


def test_a_held_back_line_does_not_restart_the_interval() -> None:
    clock = Clock()
    throttle = LogThrottle(10.0, clock=clock)
    assert throttle.allow()
    clock.now += 9.0
    assert not throttle.allow()
    clock.now += 1.0
    assert throttle.allow()


def test_reset_lets_the_next_line_out() -> None:
    clock = Clock()
    throttle = LogThrottle(60.0, clock=clock)
    assert throttle.allow("failure")
    throttle.reset("failure")
    assert throttle.allow("failure")
    throttle.reset("never logged")  # nothing to forget: no error


def test_the_default_clock_is_time_monotonic_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests of the throttle's owners move time by patching time.monotonic."""
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    throttle = LogThrottle(60.0)
    assert throttle.allow()
    clock.now += 59.0
    assert not throttle.allow()
    clock.now += 1.0
    assert throttle.allow()
