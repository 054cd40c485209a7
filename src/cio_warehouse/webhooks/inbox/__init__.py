"""The durable inbox: every acknowledged delivery, kept until loaded and for 8 days after.

Two backends with one interface (model.InboxBackend): by default the data dir's `inbox.db`
(sqlite.Inbox), or a PostgreSQL database that receivers on several machines share
(postgres.PostgresInbox), chosen by an inbox URL (`--inbox`, $CIO_WAREHOUSE_INBOX; location.py).
Both answer "stored" only once the row is committed durably, and both keep
`UNIQUE(source, event_id)`, which makes a retried delivery (Customer.io retries for up to 7 days)
a no-op, counted as a duplicate. Each has a schema version and ordered migrations to it.
"""

from cio_warehouse.webhooks.inbox.location import (
    ENV_INBOX,
    InboxLocation,
    inbox_location,
    open_inbox,
)
from cio_warehouse.webhooks.inbox.model import (
    RETENTION_SECONDS,
    Claim,
    Health,
    InboxBackend,
    InboxUnavailable,
    Kind,
    PendingDeadLetter,
    PendingEvent,
    Result,
    Submission,
)
from cio_warehouse.webhooks.inbox.sqlite import Inbox

__all__ = [
    "ENV_INBOX",
    "RETENTION_SECONDS",
    "Claim",
    "Health",
    "Inbox",
    "InboxBackend",
    "InboxLocation",
    "InboxUnavailable",
    "Kind",
    "PendingDeadLetter",
    "PendingEvent",
    "Result",
    "Submission",
    "inbox_location",
    "open_inbox",
]
