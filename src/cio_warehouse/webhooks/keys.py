"""Signing keys per source, read from the state store and cached for about a second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cio_warehouse.secret import Secret
from cio_warehouse.state import StateError, StateStore

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 1.0


class KeysUnavailable(Exception):
    """The state store could not be read and nothing is cached: answer 503, Customer.io retries."""


@dataclass(frozen=True)
class SourceKeys:
    """A known source's keys: the current one first, then the previous one (key rotation)."""

    keys: tuple[Secret, ...]

    @property
    def configured(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class _Entry:
    keys: SourceKeys
    read_at: float


class SigningKeys:
    """`await keys.get(source)`: SourceKeys, or None for a source that does not exist.

    Only known sources are cached (unknown names come from the URL, so caching them would let
    anyone grow the cache). The store is read in a worker thread: its connections wait on
    SQLite locks, and an event loop stalled on a lock would delay every other ack past
    Customer.io's 4 s timeout. Concurrent reads of one source share one store read.
    """

    def __init__(
        self,
        store: StateStore,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[SourceKeys | None]] = {}

    async def get(self, source: str, *, fresh: bool = False) -> SourceKeys | None:
        """Cached keys younger than the TTL, else (or with fresh=True) a read of the store now.

        Callers pass fresh=True after an unknown source, a source without a key or a failed
        verification, so that a key saved a moment ago is used without waiting for the TTL.
        """
        cached = self._cache.get(source)
        if not fresh and cached is not None and self._clock() - cached.read_at < self._ttl:
            return cached.keys
        started = self._clock()
        try:
            keys = await self._read(source)
        except Exception as exc:
            if cached is not None:
                # Verifying with keys a few seconds old beats failing every delivery.
                log.warning(
                    "could not re-read the signing keys of source %r (%s); using cached keys",
                    source,
                    type(exc).__name__,
                )
                return cached.keys
            raise KeysUnavailable(
                f"the signing keys of source {source!r} could not be read"
            ) from None
        if keys is None:
            self._cache.pop(source, None)
        else:
            self._cache[source] = _Entry(keys, started)
        return keys

    def forget(self) -> None:
        """Drop every cached key (tests, and a process that wants keys re-read at once)."""
        self._cache.clear()

    async def _read(self, source: str) -> SourceKeys | None:
        future = self._inflight.get(source)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(None, self._read_store, source)
            self._inflight[source] = future
            future.add_done_callback(lambda done: self._finished(source, done))
        # shield: one cancelled request must not cancel the read the others wait for.
        return await asyncio.shield(future)

    def _finished(self, source: str, future: asyncio.Future[SourceKeys | None]) -> None:
        if self._inflight.get(source) is future:
            del self._inflight[source]
        if not future.cancelled():
            future.exception()  # marks it retrieved even when every waiter went away

    def _read_store(self, source: str) -> SourceKeys | None:
        if source not in self._store.source_names():
            return None
        try:
            config = self._store.get_source(source)
        except StateError:
            if source not in self._store.source_names():
                return None  # removed between the two reads
            raise
        return SourceKeys(
            tuple(k for k in (config.signing_key, config.previous_signing_key) if k is not None)
        )
