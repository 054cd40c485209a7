"""What the receiver logs while its inbox cannot commit: the cause and what to do, a bounded
number of lines however many groups fail, and never a stale "commits again" for long."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from cio_warehouse import log_throttle
from cio_warehouse.webhooks import group_commit
from cio_warehouse.webhooks.group_commit import OUTAGE_LOG_EVERY_SECONDS, _Outage

FULL = sqlite3.OperationalError("database or disk is full")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(log_throttle.time, "monotonic", clock)  # the throttle's clock
    return clock


class Lines:
    """The group committer's log lines so far."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __call__(self) -> list[str]:
        return self.caplog.messages


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.WARNING, logger=group_commit.log.name)
    return Lines(caplog)


def test_a_long_outage_is_one_line_a_minute_with_the_count(
    clock: Clock, lines: Lines
) -> None:
    outage = _Outage(Path("/data/inbox.db"))
    for _ in range(1000):  # a second of a full disk at 1000 groups a second
        outage.failed(3, FULL)
        clock.now += 0.001
    assert len(lines()) == 1
    assert "/data/inbox.db cannot commit (OperationalError: database or disk is full)" in lines()[0]
    assert "free disk space" in lines()[0] and "(3 deliveries refused" in lines()[0]
    clock.now += OUTAGE_LOG_EVERY_SECONDS
    outage.failed(1, FULL)
    assert len(lines()) == 2 and "(2998 deliveries refused" in lines()[1]
    outage.succeeded()
    assert lines()[2].endswith("commits again") and not outage.failing


def test_failing_and_committing_by_turns_stays_a_few_lines(
    clock: Clock, lines: Lines
) -> None:
    outage = _Outage(Path("inbox.db"))
    for _ in range(100):
        outage.failed(1, FULL)
        outage.succeeded()
        clock.now += 0.01
    # failure, recovery, failure again; later turns are within the minute.
    said = ["fails" if "cannot commit" in line else "works" for line in lines()]
    assert said == ["fails", "works", "fails"]
    # The latest line says it fails; the recovery is said once the minute is over.
    assert outage.failing
    clock.now += OUTAGE_LOG_EVERY_SECONDS
    outage.succeeded()
    assert lines()[-1].endswith("commits again") and not outage.failing


def test_only_sqlite_messages_are_quoted(clock: Clock, lines: Lines) -> None:
    _Outage(Path("inbox.db")).failed(1, ValueError("a body's text"))
    assert "(ValueError)" in lines()[0] and "a body's text" not in lines()[0]
