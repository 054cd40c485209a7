"""keys.py: keys come from the state store, cached for the TTL, re-read at once when asked."""

from __future__ import annotations

import asyncio

from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.keys import SigningKeys, SourceKeys
from tests.webhooks.conftest import add_source, set_keys


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def get(keys: SigningKeys, source: str, *, fresh: bool = False) -> SourceKeys | None:
    return asyncio.run(keys.get(source, fresh=fresh))


def test_unknown_known_without_key_and_keyed_sources(store: StateStore) -> None:
    add_source(store, "nokey", key=None)
    add_source(store, "rotated", key="new", previous="old")
    keys = SigningKeys(store)
    assert get(keys, "nobody") is None
    nokey = get(keys, "nokey")
    assert nokey is not None and not nokey.configured
    assert get(keys, "rotated") == SourceKeys((Secret("new"), Secret("old")))


def test_cached_for_the_ttl_and_re_read_when_fresh_or_expired(store: StateStore) -> None:
    add_source(store, key="one")
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


def test_a_source_added_or_removed_is_seen_on_the_next_lookup(store: StateStore) -> None:
    keys = SigningKeys(store, ttl_seconds=60)
    assert get(keys, "acme") is None  # unknown names are never cached
    add_source(store, key="one")
    assert get(keys, "acme") == SourceKeys((Secret("one"),))
    store.remove_source("acme")
    assert get(keys, "acme", fresh=True) is None


def test_concurrent_lookups_share_one_read(store: StateStore) -> None:
    add_source(store, key="one")
    keys = SigningKeys(store)

    async def many() -> list[SourceKeys | None]:
        return list(await asyncio.gather(*(keys.get("acme", fresh=True) for _ in range(50))))

    assert asyncio.run(many()) == [SourceKeys((Secret("one"),))] * 50
