"""Fuzz fixtures: the seed (printed, CIO_FUZZ_SEED to replay it) and a line to the terminal."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import pytest

SEED_ENV = "CIO_FUZZ_SEED"


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
