"""Which inbox a process uses: the data dir's inbox.db, or a shared PostgreSQL one by URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.webhooks.inbox.model import InboxBackend
from cio_warehouse.webhooks.inbox.sqlite import Inbox

# The inbox URL of every process of a deployment (service, receivers, CLI), like the data dir's.
ENV_INBOX = "CIO_WAREHOUSE_INBOX"

_POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class InboxLocation:
    """Where the inbox is: a SQLite file (the data dir's inbox.db) or a PostgreSQL URL."""

    path: Path | None = None
    url: Secret | None = None  # it may hold a password

    @classmethod
    def of(cls, where: Path | InboxLocation) -> InboxLocation:
        return where if isinstance(where, InboxLocation) else cls(path=where)

    @property
    def shared(self) -> bool:
        """A PostgreSQL inbox: any number of receivers and loaders, on any machines."""
        return self.url is not None

    def __str__(self) -> str:
        return mask_url(self.url.reveal()) if self.url is not None else str(self.path)

    __repr__ = __str__

    def open(self, *, timeout: float = 30.0) -> InboxBackend:
        """A connection to the inbox, for one thread. `timeout` bounds a wait for a lock (and,
        for PostgreSQL, for the server: connecting and every statement)."""
        if self.url is not None:
            # Imported here: a SQLite inbox's processes never load the PostgreSQL driver.
            from cio_warehouse.webhooks.inbox.postgres import PostgresInbox

            return PostgresInbox(self.url, timeout=timeout)
        assert self.path is not None
        return Inbox(self.path, timeout=timeout)


def inbox_location(data_dir: DataDir, url: str | Secret | None = None) -> InboxLocation:
    """The inbox a process of this deployment uses: `url` (`--inbox`), else $CIO_WAREHOUSE_INBOX,
    else the data dir's inbox.db. Raises StateError for a URL that is not PostgreSQL's."""
    raw = url.reveal() if isinstance(url, Secret) else url
    raw = (raw or os.environ.get(ENV_INBOX) or "").strip()
    if not raw:
        return InboxLocation(path=data_dir.inbox)
    parts = urlsplit(raw)
    if parts.scheme.lower() not in _POSTGRES_SCHEMES or not parts.hostname:
        raise StateError(
            "The inbox URL must be a PostgreSQL one, postgresql://USER:PASSWORD@HOST:5432/DATABASE "
            f"(--inbox or ${ENV_INBOX}); leave it unset for the data dir's own inbox.db."
        )
    if not parts.path.strip("/"):
        raise StateError(
            "The inbox URL needs a database: postgresql://USER:PASSWORD@HOST:5432/DATABASE."
        )
    return InboxLocation(url=Secret(raw))


def open_inbox(
    data_dir: DataDir, url: str | Secret | None = None, *, timeout: float = 30.0
) -> InboxBackend:
    """inbox_location(data_dir, url).open(): for one-off reads and writes (status, remove)."""
    return inbox_location(data_dir, url).open(timeout=timeout)
