"""The JSON API's request and response bodies: what the OpenAPI document promises."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Keys are visible ASCII (they travel in an HTTP header or key an HMAC); spaces around a pasted
# key are forgiven, as the CLI forgives them.
KEY_PATTERN = r"^[ \t\r\n]*[!-~]+[ \t\r\n]*$"
KEY_MAX_LENGTH = 1000
MAX_ROWS = 100_000


class Body(BaseModel):
    """Request bodies: exact types (no "5" for 5) and no unknown fields, so that a typo in a
    field name is an error instead of a silent no-op."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        # JSON's "\ud800" escape decodes to a lone surrogate, which no UTF-8 consumer (DuckDB,
        # SQLite, httpx) takes: refused here as bad input (400), not a server error later.
        _check_unicode(data)
        return data


def _check_unicode(data: Any) -> None:
    pending = [data]  # a loop, not recursion: a deeply nested body must not overflow the stack
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must be valid Unicode (no lone surrogate)") from None
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class ErrorBody(BaseModel):
    error: str = Field(description="One sentence: what went wrong and what to do.")
    field: str | None = Field(None, description="The input field at fault, when there is one.")


class Ok(BaseModel):
    ok: bool


class SessionInfo(BaseModel):
    kind: Literal["session", "admin_token", "service_token"]
    csrf_token: str | None = Field(description="Send it as X-CSRF-Token (sessions only).")
    expires_at: float | None


# -- catalog -------------------------------------------------------------------------------------


class CatalogTable(BaseModel):
    name: str
    description: str
    sync_method: Literal["full_refresh", "incremental", "webhook"]
    default_selected: bool


class Frequency(BaseModel):
    label: str
    seconds: int


class Region(BaseModel):
    id: str
    label: str
    host: str
    caption: str


class Catalog(BaseModel):
    tables: list[CatalogTable]
    frequencies: list[Frequency]
    regions: list[Region]
    default_frequency_seconds: int


# -- sources -------------------------------------------------------------------------------------


class CheckKeyIn(Body):
    region: str
    app_api_key: str = Field(pattern=KEY_PATTERN, max_length=KEY_MAX_LENGTH)
    api_base_url: str | None = None


class Workspaces(BaseModel):
    workspaces: list[dict[str, Any]]


class SourceIn(Body):
    name: str
    region: str
    app_api_key: str = Field(pattern=KEY_PATTERN, max_length=KEY_MAX_LENGTH)
    api_base_url: str | None = None
    tables: list[str] | None = Field(None, description="Default: every table of the catalog.")
    frequency_seconds: int | None = Field(None, description="One of the catalog's frequencies.")
    destination: str | None = Field(
        None,
        max_length=2000,
        description="Where its tables land, as a destination URL (docs/destinations.md); "
        "default: the service's $CIO_WAREHOUSE_DESTINATION, else the data dir's DuckDB.",
    )
    history_days: int | None = Field(
        None, description="How far back the first sync of `messages` reaches, 1 to 3650 days "
        "(default 30)."
    )
    lookback_days: int | None = Field(
        None, description="Days of `messages` each later sync reads again, for opens, clicks "
        "and conversions that arrive late: 0 to 180 (default 7)."
    )
    draft: bool = Field(
        False, description="The web app's wizard: nothing schedules the source until a PATCH "
        "with draft false (Import); DELETE discards it with its webhook."
    )


class SourcePatch(Body):
    region: str | None = None
    app_api_key: str | None = Field(
        None, pattern=KEY_PATTERN, max_length=KEY_MAX_LENGTH,
        description="Required with a new region or api_base_url: the stored key is sent only to "
        "the host it was checked with.",
    )
    api_base_url: str | None = Field(None, description='"" goes back to the region\'s host.')
    tables: list[str] | None = None
    frequency_seconds: int | None = None
    table_frequencies: dict[str, int | None] | None = Field(
        None, description="Per-table frequencies in seconds; null follows the source's again."
    )
    history_days: int | None = Field(None, description="1 to 3650; null: the default (30).")
    lookback_days: int | None = Field(None, description="0 to 180; null: the default (7).")
    paused: bool | None = Field(
        None, description="true: no sync runs and webhook events wait in the inbox (deliveries "
        "are still acknowledged and kept); false: resume, loading what waited."
    )
    draft: bool | None = Field(None, description="false: the wizard's Import (see SourceIn).")


class Assessment(BaseModel):
    level: Literal["ok", "warning", "error"]
    message: str


class Source(BaseModel):
    name: str
    region: str
    api_base_url: str | None
    tables: list[str]
    frequency_seconds: int
    table_frequencies: dict[str, int]
    app_api_key_set: bool = Field(description="Always true: the key itself is never sent back.")
    signing_key_set: bool
    webhook_id: int | None
    webhook_url: str | None
    created_at: float
    destination: str = Field(description="Where its tables land; a password is masked.")
    destination_engine: str
    destination_caveat: str = Field(description="What that warehouse cannot do, if anything.")
    history_days: int = Field(description="How far back the first sync of `messages` reaches.")
    lookback_days: int = Field(description="Days of `messages` each later sync reads again.")
    webhook_assessment: Assessment = Field(
        description="The webhook's delivery health from our side, as its webhook status has it."
    )
    paused_at: float | None = Field(description="When the source was paused; null: running.")
    draft: bool = Field(description="Created by the wizard and not imported yet.")
    webhook_stored: int = Field(
        description="Webhook events verified with the signing key and stored, all time."
    )


class RemovalWarning(BaseModel):
    warning: str


# -- webhook -------------------------------------------------------------------------------------


class RegisterIn(Body):
    public_base_url: str | None = Field(None, description="Default: the global setting.")


class Registration(BaseModel):
    ok: bool
    url: str
    events: list[str]
    webhook: dict[str, Any] | None
    created: bool
    failure: str | None
    steps: list[str]
    refused: list[str] = Field(
        description="Event names Customer.io refused (400): registered without them."
    )
    notice: str | None = Field(description="A sentence on the refused events, if any.")
    unreachable: str | None = Field(
        None, description="A sentence when Customer.io cannot reach the URL (a loopback, private "
        "or link-local address, localhost, a name without a domain)."
    )


class SigningKeyIn(Body):
    signing_key: str = Field(pattern=KEY_PATTERN, max_length=KEY_MAX_LENGTH)


class KeySaved(BaseModel):
    webhook: dict[str, Any] | None
    rotated: bool
    enabled: bool


class DeliveryHealth(BaseModel):
    received: int
    stored: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    dropped: int
    dead_letters: int
    last_delivery_at: float | None
    backlog: int
    deliveries_last_hour: int | None = Field(
        description="None while the warehouse cannot be read."
    )


class LoaderState(BaseModel):
    """The event loader (inbox -> warehouse) as this service runs it."""

    running: bool
    last_error: str | None = Field(description="The latest failure; cleared by a success.")
    consecutive_failures: int
    retry_at: float | None = Field(description="Next attempt (unix time) while backing off.")
    last_loaded_at: float | None


class MissedDay(BaseModel):
    day: str = Field(description="The UTC day of the deliveries' creation, YYYY-MM-DD.")
    missed: int = Field(description="Sent deliveries message history has, the webhook never "
                        "reported.")
    in_history: int = Field(description="Sent deliveries in message history that day, within "
                            "the span the webhook was delivering.")
    message: str = Field(description="The same as one sentence.")


class WebhookStatus(BaseModel):
    registered: bool
    url: str | None
    remote: dict[str, Any] | None
    remote_error: str | None
    missing_events: list[str] = Field(
        description="Events of the selected tables the webhook in Customer.io lacks."
    )
    missing_notice: str | None
    health: DeliveryHealth
    assessment: Assessment
    loader: LoaderState
    missed: list[MissedDay] = Field(
        description="Days of the last 30 on which the webhook missed deliveries that message "
        "history has (`deliveries` holds them); empty while the warehouse cannot be read."
    )


# -- tables, runs, jobs --------------------------------------------------------------------------


class Run(BaseModel):
    id: int
    table: str
    started_at: float
    ended_at: float | None
    duration: float | None
    status: str
    rows: int | None
    pages: int | None
    retries: int | None
    error: str | None


class TableStatus(BaseModel):
    name: str
    description: str
    sync_method: Literal["full_refresh", "incremental", "webhook"]
    selected: bool
    frequency_seconds: int | None
    running: bool
    next_run_at: float | None
    last_run: Run | None
    last_success: Run | None


class SyncIn(Body):
    tables: list[str] | None = Field(None, description="Default: the selected API tables.")


class JobProgress(BaseModel):
    table: str
    phase: str
    rows: int
    pages: int
    retries: int


class JobOutcome(BaseModel):
    table: str
    status: str
    rows: int
    pages: int
    retries: int
    seconds: float
    error: str | None


class Job(BaseModel):
    id: int
    source: str
    tables: list[str]
    started_at: float
    finished_at: float | None
    error: str | None
    progress: list[JobProgress]
    outcomes: list[JobOutcome] | None


# -- warehouse -----------------------------------------------------------------------------------


class QueryIn(Body):
    sql: str
    max_rows: int = Field(1000, ge=1, le=MAX_ROWS)
    source: str | None = Field(
        None, description="Run on this source's warehouse (default: the one all sources share)."
    )


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class WarehouseTable(BaseModel):
    source: str
    table: str
    rows: int


class Column(BaseModel):
    name: str
    type: str


class TablePreview(BaseModel):
    columns: list[Column]
    row_count: int
    rows: list[list[Any]]


class ActivityPoint(BaseModel):
    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    channel: str
    metric: str
    events: int


class Funnel(BaseModel):
    kind: Literal["campaign", "broadcast", "newsletter"]
    id: int
    name: str | None
    sent: int
    delivered: int
    opened: int
    clicked: int


# -- settings ------------------------------------------------------------------------------------


class Settings(BaseModel):
    public_base_url: str
    public_base_url_is_default: bool
    receiver_url: str


class SettingsIn(Body):
    public_base_url: str | None = Field(description="null or \"\": the receiver's own URL.")
