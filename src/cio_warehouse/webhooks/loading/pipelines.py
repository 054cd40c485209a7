"""The event loader's pipelines: one per source, loading batches into its destination."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import dlt
import duckdb
import pyarrow as pa
from dlt.common.data_types import TDataType
from dlt.common.destination import Destination
from dlt.common.schema.typing import (
    TColumnSchema,
    TLoaderMergeStrategy,
    TMergeDispositionDict,
    TTableFormat,
)
from dlt.extract.resource import DltResource

from cio_warehouse import catalog
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.warehouse import destination as destinations
from cio_warehouse.warehouse.destination import merge_strategy
from cio_warehouse.warehouse.duckdb_file import holding_warehouse, open_warehouse
from cio_warehouse.warehouse.write_lock import write_lock
from cio_warehouse.webhooks import event_rows
from cio_warehouse.webhooks.inbox.model import Claim
from cio_warehouse.webhooks.loading.appends import (
    Appends,
    Batch,
    DuckDBAppends,
    PostgresAppends,
)
from cio_warehouse.webhooks.loading.batch import DEAD_LETTERS_TABLE, Item

log = logging.getLogger(__name__)

_DEAD_SCHEMA = event_rows.arrow_schema(
    catalog.DEAD_LETTER_COLUMNS, catalog.DEAD_LETTERS.primary_key
)


class Pipelines:
    """Each source's pipeline, made on first use; and the data dir's DuckDB file, held open
    while a loop runs once a source loads into it.

    Each source's events go to that source's destination; `destination` overrides it for all.
    `appends` False: every batch is a dlt merge, as on the engines without direct appends (the
    tests compare both paths' rows, the benchmark their speed).
    """

    def __init__(
        self,
        data_dir: DataDir,
        destination: Destination | None = None,  # type: ignore[type-arg]
        *,
        appends: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.destination = destination
        self.appends = appends
        self._pipelines: dict[str, SourcePipeline] = {}
        self._duckdb_file: Path | None = None  # set once a source loads into the data dir's
        self._keeper: duckdb.DuckDBPyConnection | None = None

    def commit(
        self, source: str, items: Sequence[Item], claim: Claim, empty: Sequence[str] = ()
    ) -> None:
        """Load items (and make the tables named in `empty`), holding the claim's lock on the
        destination; the rows commit in one transaction.

        DuckDB and PostgreSQL take the rows directly (appends.py); dlt first makes the tables
        and columns they lack, from the batch's schema with no rows. Other engines: a dlt load.
        """
        by_table: dict[str, list[Item]] = {table: [] for table in empty}
        for item in items:
            by_table.setdefault(item.table, []).append(item)
        loading = self._pipeline(source)
        batches = {table: loading.batch(table, group) for table, group in by_table.items()}
        if not loading.direct:
            with self._loaded_by_dlt(loading, source, claim, batches):
                pass
            return
        with self._appends(loading) as appends:
            present = appends.columns(source)
            new = {
                table: Batch(batch.data.slice(0, 0), batch.key)
                for table, batch in batches.items()
                if not set(batch.data.column_names) <= present.get(table, set())
            }
            rows = {table: batch for table, batch in batches.items() if batch.data.num_rows}
            # Rows alone change no table's definition: they need no write lock, so a sync's dlt
            # load (seconds for a large table) never holds them back. DuckDB takes an insert
            # beside another transaction's CREATE, ALTER or DROP; only two catalog changes
            # conflict (write_lock.py).
            locks = (
                self._loaded_by_dlt(loading, source, claim, new)
                if new
                else claim.exclusive(f"{loading.lock_key}\0{source}")
            )
            with locks:
                if rows:
                    appends.append(source, rows)

    @contextmanager
    def _loaded_by_dlt(
        self, loading: SourcePipeline, source: str, claim: Claim, batches: dict[str, Batch]
    ) -> Iterator[None]:
        """One dlt load of the batches (none: no load), and the body after it, under the locks
        on the destination."""
        pipeline = loading.pipeline
        if batches:
            # A package left by a failed attempt holds a batch that is being retried
            # differently (split, or grown with new events): never load it as well.
            if pipeline.has_pending_data:
                pipeline.abort_packages()
            pipeline.extract([loading.resource(table, batch) for table, batch in batches.items()])
            pipeline.normalize()
        # The other loaders of a shared inbox load into the same warehouse: one load at a time
        # per dataset (dlt's merge stages in <dataset>_staging, which two loads would share).
        # dlt opens the data dir's DuckDB by path: held, it meets the locked-down instance.
        held = holding_warehouse(self.data_dir) if loading.duckdb_file else nullcontext()
        with write_lock(loading.lock_key), held, claim.exclusive(
            f"{loading.lock_key}\0{source}"
        ):
            if batches:
                pipeline.load()
            yield

    @contextmanager
    def _appends(self, loading: SourcePipeline) -> Iterator[Appends]:
        if loading.appends is not None:
            yield loading.appends
            return
        with holding_warehouse(self.data_dir) as con:
            yield DuckDBAppends(con)

    def _pipeline(self, source: str) -> SourcePipeline:
        loading = self._pipelines.get(source)
        if loading is None:
            table_format: TTableFormat | None = None
            if self.destination is not None:
                destination, key = self.destination, str(self.data_dir.warehouse)
                duckdb_file = destination.destination_type == "dlt.destinations.duckdb"
            else:
                target = self._target_of(source)
                destination = target.dlt_destination(self.data_dir)
                key, table_format = target.key(self.data_dir), target.table_format
                duckdb_file = target.is_default
            if duckdb_file:
                self._duckdb_file = self.data_dir.warehouse
            pipeline = dlt.pipeline(
                # One pipeline per source for all its event tables: one load per micro-batch.
                pipeline_name=f"{source}__event_loader",
                destination=destination,
                dataset_name=source,
                pipelines_dir=str(self.data_dir.pipelines),
            )
            appends = self._postgres_appends(destination)
            loading = SourcePipeline(
                pipeline, key, merge_strategy(destination), table_format, duckdb_file, appends,
                direct=self.appends and (duckdb_file or appends is not None),
            )
            self._pipelines[source] = loading
        return loading

    def _postgres_appends(
        self, destination: Destination  # type: ignore[type-arg]
    ) -> Appends | None:
        """PostgreSQL's appends, over a connection of their own (DuckDB's use the held file's,
        made at each batch)."""
        if not self.appends:
            return None
        credentials = destination.config_params.get("credentials")
        if destination.destination_type == "dlt.destinations.postgres" and isinstance(
            credentials, str
        ):
            return PostgresAppends(credentials)
        return None

    def _target_of(self, source: str) -> destinations.Target:
        store = StateStore(self.data_dir)  # a damaged state raises: the loop backs off, says why
        if source not in store.source_names():
            # Removed meanwhile: its inbox rows go with it; DuckDB is harmless.
            return destinations.parse(None)
        return destinations.of_source(store.get_source(source).destination)

    def keep_open(self) -> None:
        """Hold the DuckDB file open while a loop (run_forever, drain) runs.

        dlt opens the database for each load and closes it after, and the last close of a DuckDB
        database checkpoints it: held open, a one-event load takes ~0.2 s instead of ~0.4 s here
        (DuckDB still checkpoints by itself once its WAL passes `checkpoint_threshold`). Opened
        locked down (duckdb_file.py), like the service's: they and dlt share this instance.
        """
        if self._duckdb_file is None or self._keeper is not None:
            return
        try:
            self._keeper = open_warehouse(self.data_dir)
        except duckdb.Error as exc:  # the load that follows reports it
            log.debug("could not hold the warehouse open: %s", exc)

    def let_go(self) -> None:
        """Close the held DuckDB file and the PostgreSQL connections."""
        for loading in self._pipelines.values():
            if loading.appends is not None:
                try:
                    loading.appends.close()
                except Exception as exc:  # noqa: BLE001  reconnected at the next batch
                    log.debug("closing a warehouse connection: %s", exc)
        if self._keeper is not None:
            try:
                self._keeper.close()
            except duckdb.Error as exc:
                log.debug("closing the warehouse: %s", exc)
            self._keeper = None


@dataclass(frozen=True)
class SourcePipeline:
    """A source's loader pipeline and how its destination takes a batch."""

    pipeline: dlt.Pipeline
    lock_key: str
    strategy: TLoaderMergeStrategy
    table_format: TTableFormat | None
    duckdb_file: bool  # loads into the data dir's DuckDB
    appends: Appends | None  # PostgreSQL's direct appends
    direct: bool  # rows go straight into the engine (appends.py), not through a dlt merge

    def batch(self, table: str, items: Sequence[Item]) -> Batch:
        rows = [item.row for item in items]
        if table == DEAD_LETTERS_TABLE:
            return Batch(event_rows.to_arrow(rows, _DEAD_SCHEMA), catalog.DEAD_LETTERS.primary_key)
        variants = sorted({v for item in items for v in item.variants})
        return Batch(event_rows.to_arrow(rows, event_rows.EVENT_SCHEMA, variants), "event_id")

    def resource(self, table: str, batch: Batch) -> DltResource:
        columns = catalog.DEAD_LETTER_COLUMNS if table == DEAD_LETTERS_TABLE else (
            catalog.EVENT_COLUMNS)
        return _dlt_resource(table, batch.data, batch.key, columns, self.strategy,
                             self.table_format)


def _dlt_resource(
    table: str,
    data: pa.Table,
    primary_key: str,
    columns: Sequence[catalog.Column],
    strategy: TLoaderMergeStrategy,
    table_format: TTableFormat | None,
) -> DltResource:
    # Arrow carries every type but JSON (a string there): only those columns need a hint. Fewer
    # hints is faster too: dlt validates and serializes every hint on every extract.
    hints: dict[str, TColumnSchema] = {
        c.name: {"data_type": cast(TDataType, c.data_type)}
        for c in columns
        if c.data_type == "json"
    }
    disposition: TMergeDispositionDict = {"disposition": "merge", "strategy": strategy}
    resource: DltResource = dlt.resource(
        data,
        name=table,
        write_disposition=disposition,
        primary_key=primary_key,
        columns=hints,
        max_table_nesting=0,
    )
    if table_format is not None:
        resource.apply_hints(table_format=table_format)
    return resource
