"""Signing keys per source, read from the state store and cached for about a second."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cio_warehouse.secret import Secret
from cio_warehouse.state import StateError, StateStore
from cio_warehouse.webhooks.inbox import InboxUnavailable

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


@dataclass(frozen=True)
class _Flight:
    """A store read in progress, and when it started (what it can have seen)."""

    future: asyncio.Future[SourceKeys | None]
    started: float


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
        self._inflight: dict[str, _Flight] = {}

    def cached(self, source: str) -> SourceKeys | None:
        """The keys get() would answer from the cache without reading the store, else None: the
        usual case, without the coroutine get() costs."""
        cached = self._cache.get(source)
        if cached is not None and self._clock() - cached.read_at < self._ttl:
            return cached.keys
        return None

    async def get(self, source: str, *, fresh: bool = False) -> SourceKeys | None:
        """Cached keys younger than the TTL, else (or with fresh=True) a read of the store now.

        Callers pass fresh=True after an unknown source, a source without a key or a failed
        verification, so that a key saved a moment ago is used without waiting for the TTL.
        """
        cached = self._cache.get(source)
        if not fresh and cached is not None and self._clock() - cached.read_at < self._ttl:
            return cached.keys
        asked = self._clock()
        try:
            keys, started = await self._read(source, not_before=asked if fresh else None)
        except Exception as exc:
            if cached is not None:
                # Verifying with keys a few seconds old beats failing every delivery.
                log.warning(
                    "could not re-read the signing keys of source %r (%s); using cached keys",
                    source,
                    type(exc).__name__,
                )
                return cached.keys
            # StateError messages name the file and the fix, InboxUnavailable's the database
            # without its password: never a secret.
            detail = (str(exc) if isinstance(exc, StateError | InboxUnavailable)
                      else type(exc).__name__)
            raise KeysUnavailable(
                f"the signing keys of source {source!r} could not be read: {detail}"
            ) from None
        latest = self._cache.get(source)
        if latest is None or started >= latest.read_at:  # never replace newer keys by older
            if keys is None:
                self._cache.pop(source, None)
            else:
                self._cache[source] = _Entry(keys, started)
        return keys

    def forget(self) -> None:
        """Drop every cached key (tests, and a process that wants keys re-read at once)."""
        self._cache.clear()

    async def _read(
        self, source: str, *, not_before: float | None
    ) -> tuple[SourceKeys | None, float]:
        """Read the store, sharing a read in progress when it started no earlier than asked.

        A fresh read must not join a read that began before the caller's failed verification:
        that read may predate the key just saved, and a 401 costs an hour (Customer.io waits
        an hour after a 401 before retrying). Such callers wait for it, then share the next.
        """
        while True:
            flight = self._inflight.get(source)
            if flight is not None and flight.future.done():
                del self._inflight[source]  # finished; its callback has not run yet
                flight = None
            if flight is None:
                loop = asyncio.get_running_loop()
                flight = _Flight(loop.run_in_executor(None, self._read_store, source),
                                 self._clock())
                self._inflight[source] = flight
                flight.future.add_done_callback(functools.partial(self._finished, source, flight))
            if not_before is None or flight.started >= not_before:
                # shield: one cancelled request must not cancel the read others wait for.
                return await asyncio.shield(flight.future), flight.started
            with contextlib.suppress(Exception):
                await asyncio.shield(flight.future)

    def _finished(
        self, source: str, flight: _Flight, _done: asyncio.Future[SourceKeys | None]
    ) -> None:
        if self._inflight.get(source) is flight:
            del self._inflight[source]
        if not flight.future.cancelled():
            flight.future.exception()  # marks it retrieved even when every waiter went away

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
