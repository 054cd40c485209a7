"""Alert channel routes (the Settings page): ops/alerts.py does the work. A channel's URL and
SMTP password go in, never out: the browser sees the masked target only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from cio_warehouse.ops import alerts
from cio_warehouse.web.api.common import ServiceDep

router = APIRouter()

ChannelName = Annotated[str, Path(description="The alert channel's name.",
                                  pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class AlertChannel(BaseModel):
    name: str
    kind: Literal["slack", "webhook", "email"]
    target: str = Field(description="Where it sends, its URL's path and password masked.")
    failing: bool
    failures: int = Field(description="Deliveries failed in a row (retried with backoff).")
    last_error: str | None
    retry_at: float | None = Field(description="When a failing channel is tried again (unix s).")


class AlertChannels(BaseModel):
    channels: list[AlertChannel]


class AlertChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["slack", "webhook", "email"]
    url: str | None = Field(None, max_length=2048, description="slack and webhook: the URL.")
    email: str | None = Field(None, max_length=1024,
                              description="email: the address (comma-separated for several).")
    smtp_url: str | None = Field(None, max_length=2048,
                                 description="email: smtp://user@host:587 or smtps://...:465.")
    smtp_password: str | None = Field(None, max_length=1024,
                                      description="email: the password if smtp_url has none.")


class AlertTest(BaseModel):
    delivered: bool
    answer: str = Field(description="The HTTP status or SMTP answer, or what to check.")


def _view(channel: alerts.ChannelView) -> AlertChannel:
    return AlertChannel(name=channel.name, kind=channel.kind,  # type: ignore[arg-type]
                        target=channel.shown, failing=channel.failing, failures=channel.failures,
                        last_error=channel.last_error, retry_at=channel.retry_at)


@router.get("/alert-channels", response_model=AlertChannels)
def get_alert_channels(service: ServiceDep) -> AlertChannels:
    return AlertChannels(channels=[_view(c) for c in alerts.list_channels(service.store)])


@router.post("/alert-channels", response_model=AlertChannel, status_code=201)
def post_alert_channel(body: AlertChannelIn, service: ServiceDep) -> AlertChannel:
    return _view(alerts.add_channel(
        service.store, body.name,
        slack=body.url if body.kind == "slack" else None,
        webhook=body.url if body.kind == "webhook" else None,
        email=body.email if body.kind == "email" else None,
        smtp_url=body.smtp_url, smtp_password=body.smtp_password,
    ))


@router.delete("/alert-channels/{name}", status_code=204, response_class=Response)
def delete_alert_channel(name: ChannelName, service: ServiceDep) -> Response:
    alerts.remove_channel(service.store, name)
    return Response(status_code=204)


@router.post("/alert-channels/{name}/test", response_model=AlertTest)
def post_alert_test(name: ChannelName, service: ServiceDep) -> AlertTest:
    """Send a test message now (in a worker thread: sync routes run in one) and say whether it
    arrived."""
    outcome = alerts.send_test(service.store, name)
    return AlertTest(delivered=outcome.ok, answer=outcome.answer)
