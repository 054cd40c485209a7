"""Fixtures for the App API client tests (the builders live in cio_fakes, a unique module name)."""

from __future__ import annotations

import pytest
from cio_fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A fake monotonic clock that moves only when the client sleeps."""
    return FakeClock()
