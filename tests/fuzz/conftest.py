"""Fuzz fixtures: the seed (printed, CIO_FUZZ_SEED to replay it) and a line to the terminal."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

SEED_ENV = "CIO_FUZZ_SEED"
_SENT: Counter[str] = Counter()  # requests sent per target, over the session


@pytest.fixture
def requests_sent() -> Counter[str]:
    """Each test adds what it sent; the total is printed at the end of the run."""
    return _SENT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SENT:
        parts = ", ".join(f"{target} {n}" for target, n in sorted(_SENT.items()))
        terminalreporter.write_line(f"fuzz: {sum(_SENT.values())} requests in all ({parts})")


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print past pytest's capture: the request counts and the seed belong in every run's log."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return say


@pytest.fixture
def fuzz_seed(say: Callable[[str], None]) -> int:
    """A new seed each run (more inputs over time), printed first so a failure can be replayed."""
    value = int(os.environ.get(SEED_ENV) or secrets.randbits(32))
    say(f"fuzz: seed {value} (replay with {SEED_ENV}={value})")
    return value
