"""Reporting-webhook payloads built from Customer.io's published OpenAPI document and examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# Customer.io's published documents, copied into the repository (see their PROVENANCE.md) so that
# the tests run on a fresh clone anywhere.
_CUSTOMERIO = Path(__file__).resolve().parents[1] / "sandbox"
SPEC = _CUSTOMERIO / "cio_openapi" / "journeys-webhooks.json"
EXAMPLES = _CUSTOMERIO / "cio_examples"


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC.read_text())
    return data


def example(name: str) -> dict[str, Any]:
    """customer_subscribed, email_sent, sms_sent: the spec's three request-body examples."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"webhook_{name}.json").read_text())
    return data


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    """Properties of an object schema, merged across allOf and the first oneOf branch."""
    schema = _resolve(schema)
    props: dict[str, Any] = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(_properties(part))
    if schema.get("oneOf"):
        props.update(_properties(schema["oneOf"][0]))
    return props


def _sample(schema: dict[str, Any]) -> Any:
    """A value of the declared type: the spec's example when it gives one."""
    schema = _resolve(schema)
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("oneOf"):
        return _sample(schema["oneOf"][0])
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema or "allOf" in schema:
        return {k: _sample(v) for k, v in _properties(schema).items()}
    if kind == "array":
        return [_sample(schema.get("items", {}))]
    return {"integer": 7, "boolean": True, "number": 1.5}.get(kind or "", "text")


@dataclass(frozen=True)
class SpecEvent:
    """One (object_type, metric) the spec documents, with a payload built from its schemas."""

    family: str  # the spec's event group: customer_event, email_event, ...
    schema: str  # the metric's schema name: email_clicked, person_subscribed, ...
    object_type: str
    metric: str
    payload: dict[str, Any]


def spec_events() -> Iterator[SpecEvent]:
    """Every object_type x metric of the spec: `webhooks.reportingWebhook` request body oneOf.

    Customer events list every channel in their object_type enum (customer_event_common: "The
    channel that triggered the subscription change"); preferences-changed spells the property
    `object_type_type` (sic) in the spec.
    """
    body = spec()["webhooks"]["reportingWebhook"]["post"]["requestBody"]
    families = body["content"]["application/json"]["schema"]["oneOf"]
    n = 0
    for family_ref in families:
        family = family_ref["$ref"].rsplit("/", 1)[1]
        for metric_ref in _resolve(family_ref)["oneOf"]:
            name = metric_ref["$ref"].rsplit("/", 1)[1]
            props = _properties(metric_ref)
            metric = _resolve(props["metric"])["enum"][0]
            type_prop = props.get("object_type") or props["object_type_type"]
            for object_type in _resolve(type_prop)["enum"]:
                n += 1
                payload = {
                    "event_id": f"01SPEC{n:020d}",
                    "object_type": object_type,
                    "metric": metric,
                    "timestamp": 1613063089 + n,
                    "data": _sample(props["data"]),
                }
                yield SpecEvent(family, name, object_type, metric, payload)
