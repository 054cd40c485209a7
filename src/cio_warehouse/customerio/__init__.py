"""Customer.io App API client: regions, auth, pacing, retries, paging, reporting webhooks."""

from cio_warehouse.customerio.client import USER_AGENT, AppAPIClient, ClientSettings, RequestStats
from cio_warehouse.customerio.errors import (
    CustomerIOError,
    DataError,
    KeyRejectedError,
    NotFoundError,
    ScopeMissingError,
    TransientError,
)
from cio_warehouse.customerio.pacing import RateLimiter
from cio_warehouse.customerio.regions import REGIONS, base_url
from cio_warehouse.customerio.retries import RetryPolicy, parse_retry_after

__all__ = [
    "REGIONS",
    "USER_AGENT",
    "AppAPIClient",
    "ClientSettings",
    "CustomerIOError",
    "DataError",
    "KeyRejectedError",
    "NotFoundError",
    "RateLimiter",
    "RequestStats",
    "RetryPolicy",
    "ScopeMissingError",
    "TransientError",
    "base_url",
    "parse_retry_after",
]
