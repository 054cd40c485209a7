"""The alert tests' receivers: a local HTTP endpoint and a local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.endpoints import HttpEndpoint, SmtpServer


@pytest.fixture
def endpoint() -> Iterator[HttpEndpoint]:
    with HttpEndpoint() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server
