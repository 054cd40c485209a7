"""Source routes (linking, settings, webhook, tables, sync): ops/ does the work."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from cio_warehouse import frequencies, webhook_links
from cio_warehouse.ops import linking, tables, webhooks
from cio_warehouse.ops.errors import OpsError
from cio_warehouse.ops.ports import Job, RunningService
from cio_warehouse.ops.query import warehouse_cursor
from cio_warehouse.ops.sources import catalog_view, known_source
from cio_warehouse.state import RunRecord, StateError
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.missed import MissedDay
from cio_warehouse.web import analytics
from cio_warehouse.web.api import models
from cio_warehouse.web.api.common import ServiceDep, SettingsDep, SourceName, view
from cio_warehouse.web.api.errors import ApiError
from cio_warehouse.web.settings import WebSettings, validate_public_base_url
from cio_warehouse.webhooks.registration import webhook_url

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
    """A source as the browser may see it: which secrets are set, never their values."""
    source = service.store.get_source(name)
    target = destination.of_source(source.destination)
    delivered = webhooks.delivery(service.inbox, source)
    verdict = delivered.assessment
    return models.Source(
        name=source.name,
        region=source.region,
        api_base_url=source.api_base_url,
        tables=list(source.tables),
        frequency_seconds=frequencies.source_frequency(source),
        table_frequencies=frequencies.table_overrides(source),
        app_api_key_set=True,
        signing_key_set=source.signing_key is not None,
        webhook_id=source.settings.webhook_id,
        webhook_url=source.settings.webhook_url
        if source.settings.webhook_url is not None
        else webhook_url(settings.public_base_url(), source.name),
        created_at=source.created_at,
        destination=target.display(),
        destination_engine=target.engine.label,
        destination_caveat=target.engine.caveat,
        history_days=source.settings.history_window_days,
        lookback_days=source.settings.lookback_window_days,
        webhook_assessment=models.Assessment(level=verdict.level.value, message=verdict.message),
        paused_at=source.settings.paused_at,
        draft=bool(source.settings.draft),
        webhook_stored=delivered.counters.stored,
    )


@router.get("/sources", response_model=list[models.Source])
def list_sources(service: ServiceDep, settings: SettingsDep) -> list[models.Source]:
    return [_source(service, settings, name) for name in service.store.source_names()]


@router.post("/sources", response_model=models.Source, status_code=201)
def post_source(body: models.SourceIn, service: ServiceDep, settings: SettingsDep
                ) -> models.Source:
    created = linking.create_source(
        service.store, body.name, body.region, body.app_api_key, api_base_url=body.api_base_url,
        tables=body.tables, frequency_seconds=body.frequency_seconds,
        destination_url=body.destination, history_days=body.history_days,
        lookback_days=body.lookback_days, draft=body.draft,
    )
    return _source(service, settings, created.name)


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
    return models.Registration.model_validate(
        {**asdict(outcome), "ok": outcome.ok, "notice": outcome.notice,
         "unreachable": outcome.unreachable}
    )


@router.put("/sources/{name}/webhook/signing-key", response_model=models.KeySaved)
def put_signing_key(name: SourceName, body: models.SigningKeyIn, service: ServiceDep
                    ) -> models.KeySaved:
    saved = webhooks.store_signing_key(service.store, name, body.signing_key, service.inbox)
    return view(models.KeySaved, saved)


@router.get("/sources/{name}/webhook", response_model=models.WebhookStatus)
def get_webhook(name: SourceName, service: ServiceDep) -> models.WebhookStatus:
    # Both sides: the webhook as Customer.io has it, and our delivery health.
    source = known_source(service.store, name)
    registered = source.settings.webhook_registered
    remote = webhooks.remote_webhook(service.store, name, interactive=True)
    delivery = webhooks.delivery(service.inbox, source)
    counters = delivery.counters
    missed: list[MissedDay] = []
    try:
        with warehouse_cursor(service.warehouse, name) as cursor:
            last_hour: int | None = analytics.deliveries_since(cursor, name, 3600)
            missed = analytics.missed_deliveries(cursor, name)
    except OpsError:  # the warehouse is down: the loader's state below says so
        last_hour = None
    loader = service.loader.status()
    return models.WebhookStatus(
        registered=registered,
        url=source.settings.webhook_url,
        remote=remote.webhook,
        remote_error=remote.error,
        missing_events=remote.missing,
        missing_notice=remote.missing_notice,
        health=models.DeliveryHealth(
            **asdict(counters), rejected=counters.rejected,
            last_delivery_at=delivery.last_delivery_at, backlog=delivery.backlog,
            deliveries_last_hour=last_hour,
        ),
        assessment=models.Assessment(
            level=delivery.assessment.level.value, message=delivery.assessment.message
        ),
        # The loader's status carries these fields by name (and more the API does not show).
        loader=models.LoaderState.model_validate(loader, from_attributes=True),
        missed=[
            models.MissedDay(day=d.day.isoformat(), missed=d.missed, in_history=d.in_history,
                             message=d.sentence())
            for d in missed
        ],
    )


# -- tables, runs, sync --------------------------------------------------------------------------


@router.get("/sources/{name}/tables", response_model=list[models.TableStatus])
def get_tables(name: SourceName, service: ServiceDep) -> list[models.TableStatus]:
    found = tables.table_statuses(service.store, service.jobs, service.scheduler, name)
    return [
        models.TableStatus.model_validate(
            {**vars(t), "last_run": _run(t.last_run), "last_success": _run(t.last_success)}
        )
        for t in found
    ]


@router.get("/sources/{name}/runs", response_model=list[models.Run])
def get_runs(
    name: SourceName,
    service: ServiceDep,
    table: Annotated[str | None, Query(description="Only this table's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[models.Run]:
    return [_run_model(run) for run in tables.runs(service.store, name, table, limit)]


def _run_model(run: RunRecord) -> models.Run:
    return models.Run.model_validate({**asdict(run), "duration": run.duration})


def _run(run: RunRecord | None) -> models.Run | None:
    return None if run is None else _run_model(run)


def _job(job: Job) -> models.Job:
    return models.Job.model_validate(job.to_json())


@router.post("/sources/{name}/sync", response_model=models.Job, status_code=202)
def post_sync(name: SourceName, service: ServiceDep, body: models.SyncIn | None = None
              ) -> models.Job:
    wanted = body.tables if body else None
    return _job(tables.sync_now(service.store, service.scheduler, name, wanted))


@router.get("/jobs/{job_id}", response_model=models.Job)
def get_job(job_id: int, service: ServiceDep) -> models.Job:
    return _job(tables.job(service.jobs, job_id))
