"""Sources: the catalog, linking (key check first), settings, removal, the reporting webhook,
per-table status, run history and "Sync now". The work is in ops/; routes translate."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from cio_warehouse import webhook_links
from cio_warehouse.ops import linking, tables, webhooks
from cio_warehouse.ops.errors import OpsError
from cio_warehouse.ops.ports import RunningService
from cio_warehouse.ops.query import warehouse_cursor
from cio_warehouse.ops.sources import catalog_view, known_source, source_view
from cio_warehouse.service.jobs import SyncJob
from cio_warehouse.state import StateError
from cio_warehouse.web import analytics
from cio_warehouse.web.api import models
from cio_warehouse.web.api.common import ServiceDep, SettingsDep, SourceName, view
from cio_warehouse.web.api.errors import ApiError
from cio_warehouse.web.settings import WebSettings, validate_public_base_url

router = APIRouter()


@router.get("/catalog", response_model=models.Catalog)
def get_catalog() -> models.Catalog:
    return view(models.Catalog, catalog_view())


@router.post("/sources/check-key", response_model=models.Workspaces)
def post_check_key(body: models.CheckKeyIn) -> models.Workspaces:
    candidate = linking.candidate(body.region, body.app_api_key, body.api_base_url)
    return models.Workspaces(workspaces=linking.check_key(candidate))


# -- sources -------------------------------------------------------------------------------------


def _source(service: RunningService, settings: WebSettings, name: str) -> models.Source:
    found = service.store.get_source(name)
    return view(models.Source, source_view(found, settings.public_base_url()))


@router.get("/sources", response_model=list[models.Source])
def list_sources(service: ServiceDep, settings: SettingsDep) -> list[models.Source]:
    return [_source(service, settings, name) for name in service.store.source_names()]


@router.post("/sources", response_model=models.Source, status_code=201)
def post_source(body: models.SourceIn, service: ServiceDep, settings: SettingsDep
                ) -> models.Source:
    new = linking.NewSource(**body.model_dump())
    return _source(service, settings, linking.create_source(service.store, new).name)


@router.get("/sources/{name}", response_model=models.Source)
def get_source(name: SourceName, service: ServiceDep, settings: SettingsDep) -> models.Source:
    known_source(service.store, name)
    return _source(service, settings, name)


@router.patch("/sources/{name}", response_model=models.Source)
def patch_source(name: SourceName, body: models.SourcePatch, service: ServiceDep,
                 settings: SettingsDep) -> models.Source:
    # A field left out keeps its value; an api_base_url sent as null goes back to the region's.
    changes = linking.SourceChanges(**body.model_dump(exclude_unset=True))
    return _source(service, settings, linking.update_source(service.store, name, changes).name)


@router.delete(
    "/sources/{name}",
    status_code=204,
    response_class=Response,
    responses={200: {"model": models.RemovalWarning,
                     "description": "Removed, but the webhook is still in Customer.io."}},
)
def delete_source(name: SourceName, service: ServiceDep) -> Response:
    warning = linking.remove_source(service.store, name)
    if warning is not None:
        return JSONResponse(models.RemovalWarning(warning=warning).model_dump())
    return Response(status_code=204)


# -- the reporting webhook -------------------------------------------------------------------------


@router.post("/sources/{name}/webhook/register", response_model=models.Registration)
def post_register(name: SourceName, service: ServiceDep, settings: SettingsDep,
                  body: models.RegisterIn | None = None) -> models.Registration:
    known_source(service.store, name)
    given = body.public_base_url if body else None
    try:
        base = validate_public_base_url(given) if given else None
    except StateError as exc:
        raise ApiError(400, str(exc), "public_base_url") from None
    outcome = webhook_links.register(service.store, name, base or settings.public_base_url())
    return models.Registration.model_validate({**asdict(outcome), "ok": outcome.ok})


@router.put("/sources/{name}/webhook/signing-key", response_model=models.KeySaved)
def put_signing_key(name: SourceName, body: models.SigningKeyIn, service: ServiceDep
                    ) -> models.KeySaved:
    saved = webhooks.store_signing_key(service.store, name, body.signing_key, service.inbox)
    return view(models.KeySaved, saved)


@router.get("/sources/{name}/webhook", response_model=models.WebhookStatus)
def get_webhook(name: SourceName, service: ServiceDep) -> models.WebhookStatus:
    """Both sides: the webhook as Customer.io has it, and our delivery health."""
    source = known_source(service.store, name)
    registered = source.settings.webhook_registered
    remote = webhooks.remote_webhook(service.store, name, interactive=True)
    delivery = webhooks.delivery(service.inbox, source)
    try:
        with warehouse_cursor(service.warehouse, name) as cursor:
            last_hour: int | None = analytics.deliveries_since(cursor, name, 3600)
    except OpsError:  # the warehouse is down: the loader's state below says so
        last_hour = None
    loader = service.loader.status()
    return models.WebhookStatus(
        registered=registered,
        url=source.settings.webhook_url,
        remote=remote.webhook,
        remote_error=remote.error,
        health=view(models.DeliveryHealth, replace(delivery.health,
                                                     deliveries_last_hour=last_hour)),
        assessment=models.Assessment(
            level=delivery.assessment.level.value, message=delivery.assessment.message
        ),
        loader=models.LoaderState(
            running=loader.running,
            last_error=loader.last_error,
            consecutive_failures=loader.consecutive_failures,
            retry_at=loader.retry_at,
            last_loaded_at=loader.last_loaded_at,
        ),
    )


# -- tables, runs, sync --------------------------------------------------------------------------


@router.get("/sources/{name}/tables", response_model=list[models.TableStatus])
def get_tables(name: SourceName, service: ServiceDep) -> list[models.TableStatus]:
    found = tables.table_statuses(service.store, service.jobs, service.scheduler, name)
    return [view(models.TableStatus, status) for status in found]


@router.get("/sources/{name}/runs", response_model=list[models.Run])
def get_runs(
    name: SourceName,
    service: ServiceDep,
    table: Annotated[str | None, Query(description="Only this table's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[models.Run]:
    return [view(models.Run, run) for run in tables.runs(service.store, name, table, limit)]


def _job(job: SyncJob) -> models.Job:
    return models.Job.model_validate(job.to_json())


@router.post("/sources/{name}/sync", response_model=models.Job, status_code=202)
def post_sync(name: SourceName, service: ServiceDep, body: models.SyncIn | None = None
              ) -> models.Job:
    wanted = body.tables if body else None
    return _job(tables.sync_now(service.store, service.scheduler, name, wanted))


@router.get("/jobs/{job_id}", response_model=models.Job)
def get_job(job_id: int, service: ServiceDep) -> models.Job:
    return _job(tables.job(service.jobs, job_id))
