"""What the web app and the use cases need from a running service, as protocols."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.warehouse.readers import SqlCursor
from cio_warehouse.webhooks.inbox import InboxLocation
from cio_warehouse.webhooks.loader import LoaderStatus

# Neither imports service/runtime.py, which implements them: nothing imports upward.


class Job(Protocol):
    """A sync job (service/jobs.py's Job): the API sends it as its JSON."""

    def to_json(self) -> dict[str, object]: ...


class Warehouse(Protocol):
    def cursor(self, source: str | None = None) -> SqlCursor: ...


class Jobs(Protocol):
    def get(self, job_id: int) -> Job | None: ...

    def running_tables(self, source: str) -> set[str]: ...


class Schedule(Protocol):
    def next_runs(self, source: str) -> dict[str, float]: ...

    def trigger(self, source: str, tables: Sequence[str] = ()) -> Job: ...


class Loader(Protocol):
    def status(self, sources: Iterable[str] = ()) -> LoaderStatus: ...


class Listening(Protocol):
    """Where the web app listens (the Host names it answers to follow from it)."""

    @property
    def host(self) -> str: ...

    @property
    def allowed_hosts(self) -> tuple[str, ...]: ...


class RunningService(Protocol):
    """A started service: its state, warehouse, sync jobs and schedule, event loader and inbox."""

    @property
    def data_dir(self) -> DataDir: ...

    @property
    def settings(self) -> Listening: ...

    @property
    def store(self) -> StateStore: ...

    @property
    def warehouse(self) -> Warehouse: ...

    @property
    def jobs(self) -> Jobs: ...

    @property
    def scheduler(self) -> Schedule: ...

    @property
    def loader(self) -> Loader: ...

    @property
    def inbox(self) -> InboxLocation: ...

    @property
    def token(self) -> str: ...

    @property
    def receiver_url(self) -> str: ...
