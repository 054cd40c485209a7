"""One drain's loads: a source's batch committed, and the rows the warehouse refuses isolated."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cio_warehouse.webhooks.inbox.model import Claim
from cio_warehouse.webhooks.loading.batch import DEAD_LETTERS_TABLE, Item, Tally, dead_letter_item
from cio_warehouse.webhooks.loading.errors import LoadError, describe, raise_if_unreachable
from cio_warehouse.webhooks.loading.pipelines import Pipelines

log = logging.getLogger(__name__)


class DrainLoads:
    """The loads of one drain: into the pipelines, settling rows of the drain's claim."""

    def __init__(self, pipelines: Pipelines, claim: Claim) -> None:
        self._pipelines = pipelines
        self._claim = claim

    def load_source(self, source: str, items: list[Item], tally: Tally) -> None:
        """Commit a source's batch; an event the warehouse refuses must not block the others.

        After a failed load each table is loaded on its own, and a table that still fails is
        probed with single rows. If none of them loads, the fault is the table's (a column type
        the warehouse holds differently, a bug): its events stay in the inbox and LoadError
        reports it, retried after a backoff. If some do, the rest is split in halves until the
        rows that fail alone are found (a JSON the warehouse cannot parse, a string it cannot
        store): those, and only those, go to the dead letters with the error as the reason.
        """
        first = self._try_commit(source, items, tally)
        if first is None:
            return
        raise_if_unreachable(first)
        by_table: dict[str, list[Item]] = {}
        for item in items:
            by_table.setdefault(item.table, []).append(item)
        stuck: list[tuple[str, int, Exception]] = []
        for table, group in by_table.items():
            failure = self._try_commit(source, group, tally) if len(by_table) > 1 else first
            if failure is None:
                continue
            raise_if_unreachable(failure)
            if table == DEAD_LETTERS_TABLE:  # text only: the warehouse itself is failing
                raise LoadError(f"dead letters did not load: {describe(failure)}") from failure
            refused = self._isolate(source, group, tally, failure)
            if refused and not tally.by_table.get(table):
                stuck.append((table, len(refused), refused[0][1]))
                continue
            for item, _ in refused:
                self._move_to_dead_letters(source, item, tally)
        if stuck:
            table, n, failure = stuck[0]
            raise LoadError(
                f"{n} event(s) of {source}.{table} did not load and no other row of that table "
                f"did (kept in the inbox, retried later): {describe(failure)}"
            ) from failure

    def commit_empty(self, source: str, tables: Sequence[str]) -> None:
        """The tables, made with no rows."""
        self._pipelines.commit(source, [], self._claim, tables)

    def _isolate(
        self, source: str, items: list[Item], tally: Tally, failure: Exception
    ) -> list[tuple[Item, Exception]]:
        """The rows of one table that fail alone; the others are committed on the way."""
        if len(items) == 1:
            return [(items[0], failure)]
        # Probes: if not one row of the table loads, splitting further would only repeat the
        # table's fault once per row.
        probes = {0, len(items) // 2, len(items) - 1}
        refused: list[tuple[Item, Exception]] = []
        for i in sorted(probes):
            probe_failure = self._try_commit(source, [items[i]], tally)
            if probe_failure is not None:
                raise_if_unreachable(probe_failure)
                refused.append((items[i], probe_failure))
        if len(refused) == len(probes):
            return refused + [(item, failure) for i, item in enumerate(items) if i not in probes]
        rest = [item for i, item in enumerate(items) if i not in probes]
        self._split_until_loaded(source, rest, tally, refused)
        return refused

    def _split_until_loaded(
        self,
        source: str,
        items: list[Item],
        tally: Tally,
        refused: list[tuple[Item, Exception]],
    ) -> None:
        if not items:
            return
        failure = self._try_commit(source, items, tally)
        if failure is None:
            return
        raise_if_unreachable(failure)
        if len(items) == 1:
            refused.append((items[0], failure))
            return
        middle = len(items) // 2
        self._split_until_loaded(source, items[:middle], tally, refused)
        self._split_until_loaded(source, items[middle:], tally, refused)

    def _move_to_dead_letters(self, source: str, item: Item, tally: Tally) -> None:
        retry = self._try_commit(source, [item], tally)  # once more, in case it was passing
        if retry is None:
            return
        reason = f"the warehouse refused this event: {describe(retry)}"
        log.warning("source %r: event %s moved to %s: %s", source, item.key,
                    DEAD_LETTERS_TABLE, reason, extra={"source": source})
        moved = dead_letter_item(
            f"event-{item.key}", item.received_at, reason, item.body, origin="loader",
            event_id=item.key, event_seqs=item.event_seqs,
        )
        not_moved = self._try_commit(source, [moved], tally)
        if not_moved is not None:
            raise LoadError(describe(not_moved)) from not_moved
        tally.isolated += 1

    def _try_commit(self, source: str, items: Sequence[Item], tally: Tally) -> Exception | None:
        """Load items, then mark their inbox rows loaded; the load's failure, if any.

        Marking happens only after the warehouse committed, and its own failure (the inbox, not
        the data) is raised, never taken for a poisonous event.
        """
        try:
            self._pipelines.commit(source, items, self._claim)
        except Exception as exc:  # noqa: BLE001  the caller classifies it
            tally.failed_loads += 1
            return exc
        tally.committed(items)
        self._claim.mark_loaded(
            [s for item in items for s in item.event_seqs],
            [s for item in items for s in item.dead_letter_seqs],
        )
        return None
