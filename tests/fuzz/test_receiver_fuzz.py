"""The receiver as its own process under 70,000 fuzzed requests: no 5xx but the documented 503,
still answering at the end, and in the inbox exactly the correctly signed deliveries."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable

import pytest
import uvloop
from hypothesis import strategies as st

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from tests.fuzz.corpus import JSON, TEXT, body_of, draw
from tests.fuzz.receiver_cases import (
    NO_KEY,
    OBJECT_TYPES,
    SIGNED,
    ReceiverFuzz,
    encode_all,
)
from tests.fuzz.wire import Tally, run
from tests.webhooks.conftest import ReceiverProcess

pytestmark = pytest.mark.timeout(300)

REQUESTS = 70_000
EVENTS = body_of({
    "event_id": TEXT | st.from_regex(r"\A01[0-9A-Z]{24}\Z"),
    "object_type": st.sampled_from(OBJECT_TYPES) | TEXT,
    "metric": st.sampled_from(("sent", "opened", "clicked")) | TEXT,
    "timestamp": st.integers(),
    "data": JSON,
})


def _inbox_rows(data_dir: DataDir) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, bytes]]]:
    """Every event and dead-letter row of the inbox, loaded or not."""
    with sqlite3.connect(f"file:{data_dir.inbox}?mode=ro", uri=True) as db:
        events = Counter(db.execute("SELECT source, event_id FROM events"))
        dead = Counter(db.execute("SELECT source, body FROM dead_letters"))
    db.close()
    return events, dead


def test_fuzzed_requests_store_only_the_signed_deliveries(
    data_dir: DataDir, fuzz_seed: int, say: Callable[[str], None],
    requests_sent: Counter[str],
) -> None:
    rng = random.Random(fuzz_seed)
    key, previous = rng.randbytes(32).hex(), rng.randbytes(32).hex()
    store = StateStore(data_dir)
    for name, signing in ((SIGNED, key), (NO_KEY, None)):
        store.add_source(SourceConfig(
            name=name, region="us", app_api_key=Secret(f"fuzz-app-key-{name}"),
            signing_key=Secret(signing) if signing else None,
            previous_signing_key=Secret(previous) if signing else None,
        ))
    fuzz = ReceiverFuzz(
        rng, key, previous,
        events=encode_all(draw(EVENTS, 500, fuzz_seed), rng),
        values=encode_all(draw(JSON, 300, fuzz_seed + 1), rng),
    )
    tally = Tally(secrets=(key.encode(), previous.encode()))
    receiver = ReceiverProcess(data_dir).start()
    try:
        started = time.monotonic()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run("127.0.0.1", receiver.port, fuzz.cases(REQUESTS), tally,
                           follow_up=fuzz.follow_up))
        elapsed = time.monotonic() - started
        assert receiver.proc is not None and receiver.proc.poll() is None, receiver.stderr
        # Still answering: one more signed delivery is stored.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            last = Tally()
            runner.run(run("127.0.0.1", receiver.port,
                           iter([fuzz.signed_case(fuzz.new_delivery())]), last,
                           follow_up=fuzz.follow_up))
        assert last.by_status == {"200": 1}, last
    finally:
        code = receiver.terminate()
    assert code == 0, receiver.stderr

    requests_sent["webhook receiver"] += tally.sent
    say(f"fuzz: {tally.sent} requests to the webhook receiver in {elapsed:.1f} s "
        f"({tally.sent / elapsed:.0f}/s, seed {fuzz_seed}); statuses {dict(tally.by_status)}; "
        f"{fuzz.sent_valid} correctly signed deliveries mixed in")
    if tally.unavailable:
        say(f"fuzz: {len(tally.unavailable)} answers were 503 (retried when signed): "
            f"{tally.unavailable[:5]}")
    assert not tally.failed, tally.summary()
    assert tally.sent >= REQUESTS

    events, dead = _inbox_rows(data_dir)
    assert events == Counter((SIGNED, event_id) for event_id in fuzz.expected_events)
    assert dead == Counter({(SIGNED, body): n for body, n in fuzz.expected_dead_letters.items()})
