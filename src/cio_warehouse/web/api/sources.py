"""Sources: the catalog, linking (key check first), settings, removal, the reporting webhook,
per-table status, run history and "Sync now". Each route's work is a function the pages share."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from cio_warehouse import catalog, webhook_links
from cio_warehouse.customerio import CustomerIOError, KeyRejectedError, ScopeMissingError, regions
from cio_warehouse.customerio.errors import RequestError
from cio_warehouse.secret import Secret
from cio_warehouse.service import scheduler
from cio_warehouse.service.jobs import SyncJob
from cio_warehouse.service.runtime import Service
from cio_warehouse.sources import client_for, link_source, validate_name, validate_tables
from cio_warehouse.state import RunRecord, SourceConfig, StateError
from cio_warehouse.state.store import DEFAULT_FREQUENCY_SECONDS
from cio_warehouse.sync.runner import tables_to_sync
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.query import QueryError
from cio_warehouse.web import analytics
from cio_warehouse.web.api import models
from cio_warehouse.web.api.common import (
    ServiceDep,
    SettingsDep,
    SourceName,
    known_source,
    warehouse_cursor,
)
from cio_warehouse.web.api.errors import ApiError
from cio_warehouse.web.settings import WebSettings, validate_public_base_url
from cio_warehouse.webhooks.health import assess
from cio_warehouse.webhooks.registration import webhook_url

router = APIRouter()

_KEYS_PAGE = "Settings > Account Settings > API Credentials > App API Keys"
REGION_CAPTIONS = {
    "us": f"Workspaces in Customer.io's US data center. The App API key is in Customer.io "
    f"under {_KEYS_PAGE}.",
    "eu": f"Workspaces in Customer.io's EU data center. The App API key is in Customer.io "
    f"under {_KEYS_PAGE}.",
}
# -- catalog -------------------------------------------------------------------------------------


def catalog_view() -> models.Catalog:
    return models.Catalog(
        tables=[
            models.CatalogTable(
                name=t.name,
                description=t.description,
                sync_method=t.sync_method.value,
                default_selected=True,  # link_source selects every table unless told otherwise
            )
            for t in catalog.TABLES
        ],
        frequencies=[
            models.Frequency(label=label, seconds=seconds)
            for label, seconds in scheduler.FREQUENCIES.items()
        ],
        regions=[
            models.Region(
                id=region, label=region.upper(), host=regions.host(region),
                caption=REGION_CAPTIONS.get(region, ""),
            )
            for region in regions.REGIONS
        ],
        default_frequency_seconds=DEFAULT_FREQUENCY_SECONDS,
    )


@router.get("/catalog", response_model=models.Catalog)
def get_catalog() -> models.Catalog:
    return catalog_view()


# -- the key check -------------------------------------------------------------------------------


def _region(value: str) -> str:
    try:
        return regions.check_region(value)
    except ValueError as exc:
        raise ApiError(400, f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "region") from None


def _api_base_url(region: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        regions.base_url(region, value)
        urlsplit(value.strip()).port  # noqa: B018  (a port that is not a number raises)
        httpx.URL(value.strip())  # the client's own parse: a host like 999.0.0.1 fails here
    except (ValueError, httpx.InvalidURL) as exc:
        raise ApiError(400, f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "api_base_url") from None
    return value.strip().rstrip("/")


def check_key(source: SourceConfig) -> list[dict[str, Any]]:
    """The workspaces the key sees, or a 400 that says what is wrong with the key."""
    try:
        # Interactive: a person waits for the answer, so it gives up after seconds.
        with client_for(source, interactive=True) as client:
            return client.check_key()
    except (KeyRejectedError, ScopeMissingError, RequestError) as exc:
        raise ApiError(400, str(exc), "app_api_key") from None
    except CustomerIOError as exc:
        field = "api_base_url" if source.api_base_url else "region"
        raise ApiError(400, f"The key could not be checked: {exc}", field) from None


def _candidate(region: str, key: str, api_base_url: str | None) -> SourceConfig:
    checked_region = _region(region)
    return SourceConfig(
        name="key_check",
        region=checked_region,
        app_api_key=Secret(key),
        api_base_url=_api_base_url(checked_region, api_base_url),
    )


@router.post("/sources/check-key", response_model=models.Workspaces)
def post_check_key(body: models.CheckKeyIn) -> models.Workspaces:
    candidate = _candidate(body.region, body.app_api_key, body.api_base_url)
    return models.Workspaces(workspaces=check_key(candidate))


# -- sources -------------------------------------------------------------------------------------


def _webhook_id(source: SourceConfig) -> int | None:
    value = source.settings.get("webhook_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def source_view(source: SourceConfig, settings: WebSettings) -> models.Source:
    """A source as the browser may see it: which secrets are set, never their values."""
    stored_url = source.settings.get("webhook_url")
    target = destination.of_source(source.destination)
    return models.Source(
        name=source.name,
        region=source.region,
        api_base_url=source.api_base_url,
        tables=list(source.tables),
        frequency_seconds=scheduler.source_frequency(source),
        table_frequencies=scheduler.table_overrides(source),
        app_api_key_set=True,
        signing_key_set=source.signing_key is not None,
        webhook_id=_webhook_id(source),
        webhook_url=stored_url
        if isinstance(stored_url, str)
        else webhook_url(settings.public_base_url(), source.name),
        created_at=source.created_at,
        destination=target.display(),
        destination_engine=target.engine.label,
        destination_caveat=target.engine.caveat,
    )


def _tables(names: list[str]) -> tuple[str, ...]:
    if not names:
        raise ApiError(400, "Select at least one table.", "tables")
    try:
        return validate_tables(names)
    except StateError as exc:
        raise ApiError(400, str(exc), "tables") from None


def _frequency(seconds: int) -> int:
    try:
        return scheduler.validate_frequency(seconds)
    except StateError as exc:
        raise ApiError(400, str(exc), "frequency_seconds") from None


@router.get("/sources", response_model=list[models.Source])
def list_sources(service: ServiceDep, settings: SettingsDep) -> list[models.Source]:
    store = service.store
    return [source_view(store.get_source(name), settings) for name in store.source_names()]


def create_source(service: Service, settings: WebSettings, body: models.SourceIn
                  ) -> models.Source:
    try:
        validate_name(body.name)
    except StateError as exc:
        raise ApiError(400, str(exc), "name") from None
    candidate = _candidate(body.region, body.app_api_key, body.api_base_url)
    tables = _tables(body.tables) if body.tables is not None else ()
    frequency = _frequency(body.frequency_seconds) if body.frequency_seconds is not None else None
    if body.name in service.store.source_names():
        raise ApiError(409, f"A source named {body.name!r} exists already; pick another name.",
                       "name")
    try:
        target = destination.for_new_source(body.destination)
    except StateError as exc:
        raise ApiError(400, str(exc), "destination") from None
    check_key(candidate)  # fails in seconds with the reason, before link_source checks again
    try:
        link_source(
            service.store, body.name, region=candidate.region, app_api_key=candidate.app_api_key,
            api_base_url=candidate.api_base_url, tables=tables, target=target,
        )
    except QueryError as exc:  # the destination did not answer
        raise ApiError(400, str(exc), "destination") from None
    if frequency is not None:
        scheduler.set_source_frequency(service.store, body.name, frequency)
    return source_view(service.store.get_source(body.name), settings)


@router.post("/sources", response_model=models.Source, status_code=201)
def post_source(body: models.SourceIn, service: ServiceDep, settings: SettingsDep
                ) -> models.Source:
    return create_source(service, settings, body)


@router.get("/sources/{name}", response_model=models.Source)
def get_source(name: SourceName, service: ServiceDep, settings: SettingsDep) -> models.Source:
    return source_view(known_source(service, name), settings)


def _same_url(stored: str | None, new: str | None) -> bool:
    # Sources linked by the CLI keep the URL as typed (e.g. a trailing slash): the same host.
    return (stored or "").strip().rstrip("/") == (new or "").strip().rstrip("/")


def _refuse_new_host(source: SourceConfig, region: str, api_base_url: str | None) -> None:
    """A stored key goes only to the host it was checked with: another region or API base URL
    could be anyone's server (a typo, a proxy, a hostile admin session), and even the key check
    would hand it the key. So moving the source needs the key typed again, as linking did."""
    moved = [
        what for what, same in (
            ("region", region == source.region),
            ("API base URL", _same_url(source.api_base_url, api_base_url)),
        ) if not same
    ]
    if moved:
        raise ApiError(
            400,
            f"Changing the {' and the '.join(moved)} needs the App API key again: paste it from "
            f"Customer.io ({_KEYS_PAGE}), as the stored key is sent only to the host it was "
            "checked with.",
            "app_api_key",
        )


def update_source(service: Service, settings: WebSettings, name: str, body: models.SourcePatch
                  ) -> models.Source:
    source = known_source(service, name)
    updated = source
    new_url = "api_base_url" in body.model_fields_set
    if body.region is not None or body.app_api_key is not None or new_url:
        region = _region(body.region) if body.region is not None else source.region
        api_base_url = (
            _api_base_url(region, body.api_base_url) if new_url else source.api_base_url
        )
        if body.app_api_key is None:
            _refuse_new_host(source, region, api_base_url)
        candidate = _candidate(
            region,
            body.app_api_key or source.app_api_key.reveal(),
            api_base_url,
        )
        updated = replace(
            updated, region=candidate.region, app_api_key=candidate.app_api_key,
            api_base_url=candidate.api_base_url,
        )
        check_key(updated)
    tables = _tables(body.tables) if body.tables is not None else None
    try:
        if body.frequency_seconds is not None:
            updated = scheduler.with_source_frequency(updated, _frequency(body.frequency_seconds))
        for table, seconds in (body.table_frequencies or {}).items():
            updated = scheduler.with_table_frequency(updated, table, seconds)
    except StateError as exc:
        raise ApiError(400, str(exc), "table_frequencies") from None
    if updated != source:
        service.store.update_source(updated)
    if tables is not None and tables != source.tables:
        # Saves them and subscribes the webhook (if any) to exactly their events.
        webhook_links.update_tables(service.store, name, tables)
    return source_view(service.store.get_source(name), settings)


@router.patch("/sources/{name}", response_model=models.Source)
def patch_source(name: SourceName, body: models.SourcePatch, service: ServiceDep,
                 settings: SettingsDep) -> models.Source:
    return update_source(service, settings, name, body)


def remove_source(service: Service, name: str) -> str | None:
    """Unlink the source (its tables stay in the warehouse); a warning if Customer.io kept the
    webhook."""
    known_source(service, name)
    return webhook_links.remove_source(service.store, name)


@router.delete(
    "/sources/{name}",
    status_code=204,
    response_class=Response,
    responses={200: {"model": models.RemovalWarning,
                     "description": "Removed, but the webhook is still in Customer.io."}},
)
def delete_source(name: SourceName, service: ServiceDep) -> Response:
    warning = remove_source(service, name)
    if warning is not None:
        return JSONResponse(models.RemovalWarning(warning=warning).model_dump())
    return Response(status_code=204)


# -- the reporting webhook -------------------------------------------------------------------------


def register_webhook(service: Service, settings: WebSettings, name: str,
                     public_base_url: str | None) -> models.Registration:
    known_source(service, name)
    try:
        base = validate_public_base_url(public_base_url) if public_base_url else None
    except StateError as exc:
        raise ApiError(400, str(exc), "public_base_url") from None
    outcome = webhook_links.register(service.store, name, base or settings.public_base_url())
    return models.Registration(
        ok=outcome.ok, url=outcome.url, events=outcome.events, webhook=outcome.webhook,
        created=outcome.created, failure=outcome.failure, steps=outcome.steps,
    )


@router.post("/sources/{name}/webhook/register", response_model=models.Registration)
def post_register(name: SourceName, service: ServiceDep, settings: SettingsDep,
                  body: models.RegisterIn | None = None) -> models.Registration:
    return register_webhook(service, settings, name, body.public_base_url if body else None)


def store_signing_key(service: Service, name: str, key: str) -> models.KeySaved:
    known_source(service, name)
    saved = webhook_links.save_signing_key(service.store, name, Secret(key), service.inbox)
    return models.KeySaved(
        webhook=saved.webhook,
        rotated=saved.rotated,
        enabled=saved.webhook is not None and not saved.webhook.get("disabled"),
    )


@router.put("/sources/{name}/webhook/signing-key", response_model=models.KeySaved)
def put_signing_key(name: SourceName, body: models.SigningKeyIn, service: ServiceDep
                    ) -> models.KeySaved:
    return store_signing_key(service, name, body.signing_key)


def webhook_status(service: Service, name: str) -> models.WebhookStatus:
    """Both sides: the webhook as Customer.io has it, and our delivery health."""
    source = known_source(service, name)
    registered = _webhook_id(source) is not None
    remote, remote_error = None, None
    if registered:
        try:
            remote = webhook_links.fetch_webhook(service.store, name, interactive=True)
        except CustomerIOError as exc:
            remote_error = str(exc)
    inbox = service.inbox.open()
    try:
        health = inbox.health(name)
    finally:
        inbox.close()
    try:
        with warehouse_cursor(service, name) as cursor:
            last_hour: int | None = analytics.deliveries_since(cursor, name, 3600)
    except ApiError:  # the warehouse is down: the loader's state below says so
        last_hour = None
    loader = service.loader.status()
    verdict = assess(health, has_signing_key=source.signing_key is not None, registered=registered)
    counters = health.counters
    url = source.settings.get("webhook_url")
    return models.WebhookStatus(
        registered=registered,
        url=url if isinstance(url, str) else None,
        remote=remote,
        remote_error=remote_error,
        health=models.DeliveryHealth(
            received=counters.get("received", 0),
            stored=counters.get("stored", 0),
            duplicates=counters.get("duplicates", 0),
            rejected=health.rejected,
            rejected_by_reason={
                k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("rejected:")
            },
            dropped=counters.get("dropped", 0),
            dead_letters=counters.get("dead_letters", 0),
            last_delivery_at=health.last_delivery_at,
            backlog=health.backlog,
            deliveries_last_hour=last_hour,
        ),
        assessment=models.Assessment(level=verdict.level.value, message=verdict.message),
        loader=models.LoaderState(
            running=loader.running,
            last_error=loader.last_error,
            consecutive_failures=loader.consecutive_failures,
            retry_at=loader.retry_at,
            last_loaded_at=loader.last_loaded_at,
        ),
    )


@router.get("/sources/{name}/webhook", response_model=models.WebhookStatus)
def get_webhook(name: SourceName, service: ServiceDep) -> models.WebhookStatus:
    return webhook_status(service, name)


# -- tables, runs, sync --------------------------------------------------------------------------


def run_view(run: RunRecord | None) -> models.Run | None:
    if run is None:
        return None
    return models.Run(
        id=run.id, table=run.table, started_at=run.started_at, ended_at=run.ended_at,
        duration=run.duration, status=run.status, rows=run.rows, pages=run.pages,
        retries=run.retries, error=run.error,
    )


def table_statuses(service: Service, name: str) -> list[models.TableStatus]:
    source = known_source(service, name)
    store = service.store
    last = store.last_runs(name)
    running = service.jobs.running_tables(name)
    next_runs = service.scheduler.next_runs(name)
    statuses = []
    for entry in catalog.TABLES:
        synced = entry.sync_method is catalog.SyncMethod.FULL_REFRESH
        run = last.get(entry.name)
        success = run if run is not None and run.status == "succeeded" else (
            store.last_success(name, entry.name) if synced else None
        )
        statuses.append(
            models.TableStatus(
                name=entry.name,
                description=entry.description,
                sync_method=entry.sync_method.value,
                selected=entry.name in source.tables,
                frequency_seconds=scheduler.table_frequency(source, entry.name) if synced else None,
                running=entry.name in running,
                next_run_at=next_runs.get(entry.name),
                last_run=run_view(run),
                last_success=run_view(success),
            )
        )
    return statuses


@router.get("/sources/{name}/tables", response_model=list[models.TableStatus])
def get_tables(name: SourceName, service: ServiceDep) -> list[models.TableStatus]:
    return table_statuses(service, name)


@router.get("/sources/{name}/runs", response_model=list[models.Run])
def get_runs(
    name: SourceName,
    service: ServiceDep,
    table: Annotated[str | None, Query(description="Only this table's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[models.Run]:
    known_source(service, name)
    if table is not None and table not in catalog.BY_NAME:
        raise ApiError(400, f"Unknown table {table!r}; choose from: {', '.join(catalog.BY_NAME)}.",
                       "table")
    return [r for r in map(run_view, service.store.runs(name, table, limit)) if r is not None]


def job_view(job: SyncJob) -> models.Job:
    return models.Job.model_validate(job.to_json())


def sync_now(service: Service, name: str, tables: list[str] | None) -> models.Job:
    """Start a sync of the requested (else selected) API tables now, beside the schedule."""
    source = known_source(service, name)
    try:
        wanted = tables_to_sync(source.tables, tables or ())
    except StateError as exc:
        raise ApiError(400, str(exc), "tables") from None
    if not wanted:
        raise ApiError(400, f"Source {name!r} has no App API table selected: select one first.",
                       "tables")
    try:
        job = service.scheduler.trigger(name, [t.name for t in wanted])
    except StateError as exc:
        raise ApiError(409, str(exc), "tables") from None
    return job_view(job)


@router.post("/sources/{name}/sync", response_model=models.Job, status_code=202)
def post_sync(name: SourceName, service: ServiceDep, body: models.SyncIn | None = None
              ) -> models.Job:
    return sync_now(service, name, body.tables if body else None)


@router.get("/jobs/{job_id}", response_model=models.Job)
def get_job(job_id: int, service: ServiceDep) -> models.Job:
    job = service.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"No job {job_id} (jobs are kept while the service runs).")
    return job_view(job)
