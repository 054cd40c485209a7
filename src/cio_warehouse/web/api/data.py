"""The warehouse side: read-only SQL, the table browser, activity and funnels, settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from cio_warehouse.ops.ports import RunningService
from cio_warehouse.ops.query import run_query, warehouse_cursor
from cio_warehouse.ops.sources import known_source
from cio_warehouse.state import StateError
from cio_warehouse.web import analytics, browse
from cio_warehouse.web.api import models
from cio_warehouse.web.api.common import ServiceDep, SettingsDep, SourceName, view
from cio_warehouse.web.api.errors import ApiError
from cio_warehouse.web.settings import WebSettings

router = APIRouter()


@router.get("/health", response_model=models.Ok)
def get_health() -> models.Ok:
    """The service answers (the CLI's check that a running service owns the warehouse)."""
    return models.Ok(ok=True)


# -- SQL -----------------------------------------------------------------------------------------


@router.post("/query", response_model=models.QueryResult)
def post_query(body: models.QueryIn, service: ServiceDep) -> models.QueryResult:
    found = run_query(service.store, service.warehouse, body.sql, body.max_rows, body.source)
    return view(models.QueryResult, found)


# -- the table browser ---------------------------------------------------------------------------


@router.get("/warehouse/tables", response_model=list[models.WarehouseTable])
def get_warehouse_tables(
    service: ServiceDep,
    source: Annotated[str | None, Query(description="Only this source's tables.")] = None,
) -> list[models.WarehouseTable]:
    # Every source's tables, each read in the warehouse that source loads into.
    names = [source] if source is not None else service.store.source_names()
    found: list[browse.TableCount] = []
    for name in names:
        with warehouse_cursor(service.warehouse, name) as cursor:
            found += browse.tables(cursor, [name])
    return [models.WarehouseTable(source=t.source, table=t.table, rows=t.rows) for t in found]


@router.get("/warehouse/tables/{source}/{table}", response_model=models.TablePreview)
def get_table_preview(
    source: Annotated[str, Path(description="The source (SQL schema).")],
    table: Annotated[str, Path(description="The table in it.")],
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> models.TablePreview:
    if source not in service.store.source_names():
        raise ApiError(404, f"No table {source}.{table} in the warehouse: no source {source!r}.")
    with warehouse_cursor(service.warehouse, source) as cursor:
        if not browse.exists(cursor, source, table):
            raise ApiError(404, f"No table {source}.{table} in the warehouse (yet): sync the "
                           "source, or wait for its first webhook events.")
        found = browse.preview(cursor, source, table, limit)
    return models.TablePreview(
        columns=[models.Column(name=n, type=t) for n, t in found.columns],
        row_count=found.row_count,
        rows=found.rows,
    )


# -- charts --------------------------------------------------------------------------------------


@router.get("/sources/{name}/activity", response_model=list[models.ActivityPoint])
def get_activity(
    name: SourceName,
    service: ServiceDep,
    days: Annotated[int, Query(ge=1, le=3660, description="How many days back.")] = 30,
) -> list[models.ActivityPoint]:
    known_source(service.store, name)
    with warehouse_cursor(service.warehouse, name) as cursor:
        rows = analytics.activity(cursor, name, days)
    return [
        models.ActivityPoint(day=r.day, channel=r.channel, metric=r.metric, events=r.events)
        for r in rows
    ]


@router.get("/sources/{name}/funnels", response_model=list[models.Funnel])
def get_funnels(
    name: SourceName,
    service: ServiceDep,
    kind: Annotated[
        analytics.FunnelKind | None, Query(description="Default: all three kinds.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many per kind.")] = 100,
) -> list[models.Funnel]:
    known_source(service.store, name)
    kinds = analytics.FUNNEL_KINDS if kind is None else (kind,)
    with warehouse_cursor(service.warehouse, name) as cursor:
        rows = [row for k in kinds for row in analytics.funnels(cursor, name, k, limit)]
    return [
        models.Funnel(
            kind=r.kind, id=r.id, name=r.name, sent=r.sent, delivered=r.delivered,
            opened=r.opened, clicked=r.clicked,
        )
        for r in rows
    ]


# -- settings ------------------------------------------------------------------------------------


def settings_view(service: RunningService, settings: WebSettings) -> models.Settings:
    return models.Settings(
        public_base_url=settings.public_base_url(),
        public_base_url_is_default=settings.is_default(),
        receiver_url=service.receiver_url,
    )


@router.get("/settings", response_model=models.Settings)
def get_settings(service: ServiceDep, settings: SettingsDep) -> models.Settings:
    return settings_view(service, settings)


@router.put("/settings", response_model=models.Settings)
def put_settings(body: models.SettingsIn, service: ServiceDep, settings: SettingsDep
                 ) -> models.Settings:
    try:
        settings.set_public_base_url(body.public_base_url)
    except StateError as exc:
        raise ApiError(400, str(exc), "public_base_url") from None
    return settings_view(service, settings)
