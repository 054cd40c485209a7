"""Reporting-webhook management calls of the App API: list, get, create, update, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cio_warehouse.customerio.errors import DataError, NotFoundError, objects_under

PATH = "/v1/reporting_webhooks"
# customerio-api.md: `id` and `type` (webhook/js) are read-only; everything else is written back.
_READ_ONLY = ("id", "type")
_REQUIRED = ("name", "endpoint", "events")


def _path(webhook_id: int) -> str:
    # Ids are integers (customerio-api.md): refusing anything else keeps the path un-injectable.
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int):
        raise TypeError(f"a reporting webhook id is an integer, got {webhook_id!r}")
    return f"{PATH}/{webhook_id}"


def _events(events: Iterable[str]) -> list[str]:
    # customerio-api.md: the create body needs "events (at least one)".
    names = [events] if isinstance(events, str) else list(events)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError("a reporting webhook needs at least one event name, e.g. email_sent")
    return names


def _webhook_object(body: Any, path: str) -> dict[str, Any]:
    # customerio-api.md: "create/get/put return the object with its integer id".
    if not isinstance(body, dict):
        raise DataError(
            f"{path} did not return a reporting webhook object (got {type(body).__name__}): "
            f"Customer.io's answer is not what its API reference documents.",
            path=path,
        )
    webhook_id = body.get("id")
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int):
        raise DataError(
            f"{path} returned a reporting webhook without an integer id ({webhook_id!r}): "
            f"Customer.io's answer is not what its API reference documents.",
            path=path,
        )
    return body


class ReportingWebhooksMixin:
    """The reporting-webhook calls; mixed into AppAPIClient, which supplies `_call`."""

    # AppAPIClient's one request path: (method, path, *, json_body=None, parse_json=True).
    _call: Callable[..., Any]

    def list_reporting_webhooks(self) -> list[dict[str, Any]]:
        """All reporting webhooks of the workspace (`{"reporting_webhooks": [...]}`)."""
        return objects_under(self._call("GET", PATH), "reporting_webhooks", PATH)

    def get_reporting_webhook(self, webhook_id: int) -> dict[str, Any]:
        """One reporting webhook; NotFoundError if the id is unknown."""
        path = _path(webhook_id)
        return _webhook_object(self._call("GET", path), path)

    def create_reporting_webhook(
        self,
        name: str,
        endpoint: str,
        events: Iterable[str],
        *,
        disabled: bool = True,
        full_resolution: bool = False,
        with_content: bool = False,
    ) -> dict[str, Any]:
        """Create a reporting webhook, disabled by default, and return it with its integer id.

        customerio-api.md: "Safe order: create the webhook disabled, ask for the signing key, then
        enable it", since the signing key is only shown in Customer.io's UI.
        """
        body = {
            "name": name,
            "endpoint": endpoint,
            "events": _events(events),
            "disabled": disabled,
            "full_resolution": full_resolution,
            "with_content": with_content,
        }
        return _webhook_object(self._call("POST", PATH, json_body=body), PATH)

    def update_reporting_webhook(self, webhook_id: int, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace a reporting webhook with `obj` (PUT of the whole object) and return it.

        customerio-api.md: "send the whole object (name, endpoint, events, disabled, ...)". Fields
        other than the read-only `id` and `type` are passed through, so that a field Customer.io
        adds later and we read with `get_reporting_webhook` is not reset by the PUT.
        """
        path = _path(webhook_id)
        missing = [key for key in _REQUIRED if key not in obj]
        if missing:
            raise ValueError(
                f"a reporting webhook update sends the whole object; missing: {', '.join(missing)}"
            )
        body = {key: value for key, value in obj.items() if key not in _READ_ONLY}
        body["events"] = _events(body["events"])
        return _webhook_object(self._call("PUT", path, json_body=body), path)

    def delete_reporting_webhook(self, webhook_id: int) -> bool:
        """Delete a reporting webhook: True if deleted, False if it was already gone (404)."""
        path = _path(webhook_id)
        try:
            # customerio-api.md: "DELETE ... 200, no body; 404 if unknown".
            self._call("DELETE", path, parse_json=False)
        except NotFoundError:
            return False
        return True
