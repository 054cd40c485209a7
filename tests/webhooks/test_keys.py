"""keys.py: keys come from the state store, cached for the TTL, re-read at once when asked."""

from __future__ import annotations

import asyncio
import threading

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks.keys import SigningKeys, SourceKeys
from tests.helpers import add_source
from tests.webhooks.conftest import set_keys


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def get(keys: SigningKeys, source: str, *, fresh: bool = False) -> SourceKeys | None:
    return asyncio.run(keys.get(source, fresh=fresh))


def test_unknown_known_without_key_and_keyed_sources(store: StateStore) -> None:
    add_source(store, name="nokey")
    add_source(store, name="rotated", signing_key="new", previous_signing_key="old")
    keys = SigningKeys(store)
    assert get(keys, "nobody") is None
    nokey = get(keys, "nokey")
    assert nokey is not None and not nokey.configured
    assert get(keys, "rotated") == SourceKeys((Secret("new"), Secret("old")))


def test_cached_for_the_ttl_and_re_read_when_fresh_or_expired(store: StateStore) -> None:
    add_source(store, signing_key="one")
    clock = Clock()
    keys = SigningKeys(store, ttl_seconds=1.0, clock=clock)
    assert get(keys, "acme") == SourceKeys((Secret("one"),))
    set_keys(store, "two", previous="one")
    clock.now += 0.5
    assert get(keys, "acme") == SourceKeys((Secret("one"),))  # still cached
    assert get(keys, "acme", fresh=True) == SourceKeys((Secret("two"), Secret("one")))
    set_keys(store, "three")
    clock.now += 1.0
    assert get(keys, "acme") == SourceKeys((Secret("three"),))  # the TTL ran out


def test_cached_answers_only_what_get_would_answer_from_the_cache(store: StateStore) -> None:
    add_source(store, signing_key="one")
    clock = Clock()
    keys = SigningKeys(store, ttl_seconds=1.0, clock=clock)
    assert keys.cached("acme") is None  # never read yet
    assert get(keys, "acme") == SourceKeys((Secret("one"),))
    clock.now += 0.5
    assert keys.cached("acme") == SourceKeys((Secret("one"),))
    clock.now += 0.5
    assert keys.cached("acme") is None  # the TTL ran out: get() reads the store again
    assert get(keys, "nobody") is None
    assert keys.cached("nobody") is None


def test_a_source_added_or_removed_is_seen_on_the_next_lookup(store: StateStore) -> None:
    keys = SigningKeys(store, ttl_seconds=60)
    assert get(keys, "acme") is None  # unknown names are never cached
    add_source(store, signing_key="one")
    assert get(keys, "acme") == SourceKeys((Secret("one"),))
    store.remove_source("acme")
    assert get(keys, "acme", fresh=True) is None


def test_concurrent_lookups_share_one_read(store: StateStore) -> None:
    add_source(store, signing_key="one")
    keys = SigningKeys(store)

    async def many() -> list[SourceKeys | None]:
        return list(await asyncio.gather(*(keys.get("acme", fresh=True) for _ in range(50))))

    assert asyncio.run(many()) == [SourceKeys((Secret("one"),))] * 50


class GatedStore(StateStore):
    """The real store, with a gate that holds a read after it has read (to order two reads)."""

    def __init__(self, data_dir: DataDir) -> None:
        super().__init__(data_dir)
        self.gate = threading.Event()
        self.gate.set()
        self.reads = 0

    def get_source(self, name: str) -> SourceConfig:
        config = super().get_source(name)
        self.reads += 1
        self.gate.wait(10)
        return config


def test_a_fresh_lookup_never_takes_a_read_that_began_before_it(data_dir: DataDir) -> None:
    """A key saved while a read is in flight: the failed verification after it must see it."""
    gated = GatedStore(data_dir)
    add_source(gated, signing_key="one")
    clock = Clock()
    keys = SigningKeys(gated, clock=clock)

    async def scenario() -> list[SourceKeys | None]:
        gated.gate.clear()
        old_read = asyncio.ensure_future(keys.get("acme"))
        while gated.reads < 1:  # the first read has read key "one" and is held
            await asyncio.sleep(0.005)
        set_keys(StateStore(data_dir), "two")  # the user saves a new key meanwhile
        clock.now += 0.001
        fresh = [asyncio.ensure_future(keys.get("acme", fresh=True)) for _ in range(5)]
        await asyncio.sleep(0.01)
        gated.gate.set()
        return list(await asyncio.gather(old_read, *fresh))

    old, *fresh = asyncio.run(scenario())
    assert old == SourceKeys((Secret("one"),))
    assert fresh == [SourceKeys((Secret("two"),))] * 5
    assert gated.reads == 2  # the five fresh lookups shared one read
