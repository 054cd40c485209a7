"""The service's JSON API for the CLI: health, read-only queries, sync jobs. Bearer token."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import duckdb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.service.jobs import SyncJobs
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.warehouse.query import QueryError, execute
from cio_warehouse.warehouse.values import to_json_value

MAX_ROWS = 100_000


class Warehouse:
    """The service's one DuckDB instance; dlt's loads in this process share it."""

    def __init__(self, data_dir: DataDir) -> None:
        self._path = str(data_dir.warehouse)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect(self._path)
            return self._con.cursor()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_api(data_dir: DataDir, jobs: SyncJobs, warehouse: Warehouse, token: str) -> Starlette:
    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _error(401, "Missing or wrong service token.")
            try:
                return await handler(request)
            except (StateError, QueryError, CustomerIOError) as exc:
                return _error(400, str(exc))

        return wrapper

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def query(request: Request) -> Response:
        body = await _json_object(request)
        sql = body.get("sql")
        if not isinstance(sql, str):
            return _error(400, "Give the SQL as a string in `sql`.")
        max_rows = body.get("max_rows", MAX_ROWS)
        if not isinstance(max_rows, int) or max_rows < 1:
            max_rows = MAX_ROWS

        def run() -> dict[str, Any]:
            cursor = warehouse.cursor()
            try:
                result = execute(cursor, sql, min(max_rows, MAX_ROWS))
            finally:
                cursor.close()
            return {
                "columns": result.columns,
                "rows": [[to_json_value(v) for v in row] for row in result.rows],
                "truncated": result.truncated,
            }

        return JSONResponse(await run_in_threadpool(run))

    async def sync(request: Request) -> Response:
        body = await _json_object(request)
        tables = body.get("tables") or []
        if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
            return _error(400, "Give `tables` as a list of table names.")
        job = jobs.start(request.path_params["source"], tables)
        return JSONResponse(job.to_json(), status_code=202)

    async def job(request: Request) -> Response:
        found = jobs.get(int(request.path_params["job_id"]))
        if found is None:
            return _error(404, "No such job (jobs are kept while the service runs).")
        return JSONResponse(found.to_json())

    return Starlette(
        routes=[
            Route("/api/health", guarded(health), methods=["GET"]),
            Route("/api/query", guarded(query), methods=["POST"]),
            Route("/api/sources/{source}/sync", guarded(sync), methods=["POST"]),
            Route("/api/jobs/{job_id:int}", guarded(job), methods=["GET"]),
        ]
    )


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise QueryError("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise QueryError("The request body must be a JSON object.")
    return body
