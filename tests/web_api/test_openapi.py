"""Schemathesis against the OpenAPI document of the running app, with the admin token: no 5xx,
every response in the documented shape and status, invalid input refused with a 4xx.

The app runs as `serve` runs it, with a throwaway data dir, against the sandbox Customer.io over
real HTTP; nothing of ours is stubbed. Generated bodies that name an App API base URL get the
sandbox's (with a real or a generated key), so that key checks reach an App API in milliseconds;
a source `acme` is kept linked, so that per-source operations meet a real source as well as
unknown names.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir
from cio_warehouse.web.api.models import KEY_MAX_LENGTH, KEY_PATTERN
from tests.web_api.conftest import RunningApp, start_app

MAX_EXAMPLES = 20
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
SOURCE = "acme"
BASE_URL_OPERATIONS = {
    "POST /api/v1/sources/check-key", "POST /api/v1/sources", "PATCH /api/v1/sources/{name}",
}


def _valid_key(value: str) -> bool:
    """As the document says (ECMA-262 `$` is the end of input, unlike Python's)."""
    return len(value) <= KEY_MAX_LENGTH and re.fullmatch(KEY_PATTERN.strip("^$"), value) is not None


class Target:
    def __init__(self, app: RunningApp, sandbox: SandboxServer, api_key: str) -> None:
        self.app = app
        self.sandbox = sandbox
        self.api_key = api_key
        self.random = random.Random(7)
        self.created = 0
        self.admin = app.admin()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.app.admin_token}"}

    def ensure_source(self) -> None:
        """Link `acme` again if a generated DELETE removed it (through the API, key check and
        all), and give it a webhook with a signing key."""
        if self.admin.get(f"/api/v1/sources/{SOURCE}").status_code == 200:
            return
        created = self.admin.post("/api/v1/sources", json={
            "name": SOURCE, "region": "us", "app_api_key": self.api_key,
            "api_base_url": self.sandbox.url,
            # One API table: the scheduler syncs it at once, so there are a table and a job.
            "tables": ["campaigns", "email_events", "sms_events", "customer_events"],
        })
        assert created.status_code == 201, created.text
        registered = self.admin.post(f"/api/v1/sources/{SOURCE}/webhook/register", json={})
        assert registered.status_code == 200 and registered.json()["ok"], registered.text
        key = self.sandbox.signing_key(registered.json()["webhook"]["id"])
        stored = self.admin.put(f"/api/v1/sources/{SOURCE}/webhook/signing-key",
                                json={"signing_key": key})
        assert stored.status_code == 200, stored.text

    def steer(self, case: Any) -> None:
        """Point generated requests at what exists, without changing whether they are valid:
        a string stays a string, an integer an integer, and a field is added only where the
        operation takes it."""
        chance = self.random.random
        body = case.body
        if isinstance(body, dict):
            takes_base_url = case.operation.label in BASE_URL_OPERATIONS
            if isinstance(body.get("api_base_url"), str) or (
                takes_base_url and "api_base_url" not in body
            ):
                body["api_base_url"] = self.sandbox.url
            key = body.get("app_api_key")
            if isinstance(key, str) and _valid_key(key) and chance() < 0.5:
                body["app_api_key"] = self.api_key
            if isinstance(body.get("region"), str) and chance() < 0.5:
                body["region"] = "us"
            if isinstance(body.get("sql"), str) and chance() < 0.5:
                body["sql"] = f"select * from {SOURCE}.campaigns limit 3"
            if isinstance(body.get("name"), str) and chance() < 0.5:
                self.created += 1
                body["name"] = f"generated_{self.created}"
        params = case.path_parameters or {}
        for key, value in (("name", SOURCE), ("source", SOURCE), ("table", "campaigns")):
            if isinstance(params.get(key), str) and chance() < 0.6:
                params[key] = value
        if isinstance(params.get("job_id"), int) and chance() < 0.5:
            params["job_id"] = 1


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    api_key = "sbx_openapi_0123456789abcdef"
    # No sandbox rate limit: generated requests come faster than a workspace's 10 per second.
    with SandboxServer(Workspace.preset("small", seed=7), api_key=api_key,
                       rate_limit_rps=None) as sandbox:
        data_dir = DataDir(Path(tmp_path_factory.mktemp("openapi")) / "data").create()
        app = start_app(data_dir)
        found = Target(app, sandbox, api_key)
        try:
            found.ensure_source()
            yield found
        finally:
            found.admin.close()
            app.stop()


def test_api_matches_its_openapi_document(target: Target) -> None:
    config = SchemathesisConfig.from_dict({"headers": target.headers})
    schema = schemathesis.openapi.from_url(
        f"{target.app.url}/api/v1/openapi.json", config=config, headers=target.headers
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        inputs = (operation.path_parameters, operation.query, operation.body)
        # An operation without inputs has no invalid request to make (headers are ours).
        modes = [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * any(map(len, inputs))
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
            )
            @given(case=strategy)
            def check(case: Any) -> None:
                target.ensure_source()
                target.steer(case)
                case.call_and_validate(headers=target.headers, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                # Nothing invalid fits some inputs (any string is a valid source name in a path).
                assert mode is GenerationMode.NEGATIVE, operation.label


def test_the_document_is_precise(target: Target) -> None:
    document = httpx.get(f"{target.app.url}/api/v1/openapi.json", headers=target.headers).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) >= 20
    for operation in operations:
        responses = operation["responses"]
        assert "422" not in responses  # validation errors are 400s in the API's error shape
        success = [code for code in responses if code.startswith("2")]
        assert success, operation["operationId"]
        for code in success:
            content = responses[code].get("content", {}).get("application/json", {})
            if code != "204":
                assert content.get("schema"), (operation["operationId"], code)
    assert not any(path.startswith("/docs") for path in document["paths"])
