"""Backoff for loops that count their own failures: doubling, the cap, jitter, the reset."""

from __future__ import annotations

import random

from cio_warehouse.backoff import Backoff


class MaxRandom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def test_doubles_from_first_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 30.0)
    assert [backoff.after(n) for n in range(1, 10)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0,
    ]
    assert backoff.after(10_000) == 30.0
    assert backoff.after(0) == 0.5  # no failure yet counts as the first


def test_failed_counts_and_succeeded_resets() -> None:
    backoff = Backoff(1.0, 30.0)
    assert [backoff.failed() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.failures == 7
    backoff.succeeded()
    assert backoff.failed() == 1.0


def test_full_jitter_is_under_the_ceiling() -> None:
    assert Backoff(0.5, 30.0, jitter=MaxRandom()).after(4) == 4.0
    draws = [Backoff(0.5, 30.0, jitter=random.Random(seed)).after(4) for seed in range(200)]
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert min(draws) < 1.0 < 3.0 < max(draws)
