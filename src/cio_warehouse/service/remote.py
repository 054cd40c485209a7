"""The CLI's side of a running service: queries and syncs go through it, since DuckDB lets one
process write the warehouse file."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from cio_warehouse.customerio import RequestStats
from cio_warehouse.service.discovery import ServiceInfo
from cio_warehouse.state import StateError
from cio_warehouse.sync import TableOutcome, TableProgress
from cio_warehouse.warehouse.query import QueryError, QueryResult

MAX_ROWS = 100_000  # the API's most; the CLI printed every row before, this many is plenty


class RemoteService:
    def __init__(self, info: ServiceInfo) -> None:
        self._client = httpx.Client(
            base_url=info.url,
            headers={"Authorization": f"Bearer {info.token}"},
            timeout=httpx.Timeout(30.0, read=600.0),
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise StateError(f"The running service did not answer ({exc}).") from None
        try:
            payload = response.json()
        except ValueError:
            raise StateError(
                f"The running service answered {response.status_code} without JSON."
            ) from None
        if response.status_code >= 400:
            raise QueryError(str(payload.get("error", response.text)))
        return payload

    def loader_state(self, source: str) -> dict[str, Any]:
        """The event loader's state as the service runs it (see models.LoaderState)."""
        state: dict[str, Any] = self._call("GET", f"/api/v1/sources/{source}/webhook")["loader"]
        return state

    def missed(self, source: str) -> list[str]:
        """The sentences of the days the webhook missed deliveries (see models.MissedDay)."""
        status = self._call("GET", f"/api/v1/sources/{source}/webhook")
        return [str(day["message"]) for day in status.get("missed", [])]

    def query(self, sql: str, source: str | None = None) -> QueryResult:
        payload = self._call(
            "POST", "/api/v1/query", {"sql": sql, "max_rows": MAX_ROWS, "source": source}
        )
        return QueryResult(payload["columns"], [tuple(r) for r in payload["rows"]])

    def sync(
        self,
        source: str,
        tables: list[str],
        on_start: Callable[[list[TableProgress]], None] | None = None,
        poll: float = 0.25,
    ) -> list[TableOutcome]:
        job = self._call("POST", f"/api/v1/sources/{source}/sync", {"tables": tables or None})
        progress: list[TableProgress] = []
        if on_start is not None:
            on_start(progress)
        while True:
            _update(progress, job["progress"])
            if job["finished_at"] is not None:
                break
            time.sleep(poll)
            job = self._call("GET", f"/api/v1/jobs/{job['id']}")
        if job["error"]:
            raise StateError(job["error"])
        return [TableOutcome(**o) for o in job["outcomes"]]


def _update(progress: list[TableProgress], remote: list[dict[str, Any]]) -> None:
    """Refresh the list in place, so that a live view holding it sees the changes."""
    by_table = {p.table: p for p in progress}
    for item in remote:
        entry = by_table.get(item["table"])
        if entry is None:
            entry = TableProgress(item["table"], RequestStats())
            progress.append(entry)
        entry.phase = item["phase"]
        entry.stats.rows = item["rows"]
        entry.stats.pages = item["pages"]
        entry.stats.retries = item["retries"]
