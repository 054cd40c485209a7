"""Every endpoint's envelope, keys and JSON types against the examples Customer.io publishes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cio_warehouse.sandbox import TABLES, SandboxServer

from .conftest import example, read_all

# Where the documented data is wider than the one example shows (customerio-api.md and the
# examples' README): these (table, field) pairs may also take the listed JSON types.
ALSO_ALLOWED: dict[tuple[str, str], set[str]] = {
    ("broadcasts", "tags"): {"array"},  # the example's "nil" is an oddity; arrays are typical
    ("segments", "tags"): {"array"},
    ("segments", "progress"): {"integer"},
}
# Fields an example shows that are not on every row (Customer.io adds fields without notice).
SOMETIMES = {("broadcasts", "created_by")}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for python_type, name in ((int, "integer"), (float, "number"), (str, "string"),
                              (list, "array"), (dict, "object")):
        if isinstance(value, python_type):
            return name
    raise AssertionError(f"not a JSON value: {value!r}")


def check_like(table: str, rows: list[dict[str, Any]], model: dict[str, Any]) -> None:
    assert rows, f"{table}: no rows to compare"
    for field, model_value in model.items():
        allowed = {json_type(model_value)} | ALSO_ALLOWED.get((table, field), set())
        having = [row for row in rows if field in row]
        if (table, field) in SOMETIMES:
            assert having, f"{table}.{field} never appears"
        else:
            assert len(having) == len(rows), f"{table}.{field} missing on some rows"
        for row in having:
            value = row[field]
            assert json_type(value) in allowed, f"{table}.{field}: {value!r} is not {allowed}"
            if isinstance(value, list) and isinstance(model_value, list) and model_value:
                item_types = {json_type(item) for item in model_value}
                assert {json_type(item) for item in value} <= item_types, f"{table}.{field}"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_list_endpoint_matches_example(
    sb: SandboxServer, client: httpx.Client, table: str
) -> None:
    spec = TABLES[table]
    published = example(f"{table}_list")
    list_key = next(key for key in published if key != "next")
    assert spec.list_key == list_key
    if spec.paged:
        rows, _ = read_all(client, spec.path, list_key, hidden="true")
    else:
        body = client.get(spec.path).json()
        assert set(body) == {list_key}
        rows = body[list_key]
    assert len(rows) == sb.workspace.expected_rows(table)
    assert rows == list(sb.workspace.rows(table))
    check_like(table, rows, published[list_key][0])


def test_envelope_renames(client: httpx.Client) -> None:
    assert "types" in client.get("/v1/object_types").json()
    assert "topics" in client.get("/v1/subscription_topics").json()
    assert "messages" in client.get("/v1/transactional").json()


def test_object_type_ids_are_strings_and_snippets_have_none(client: httpx.Client) -> None:
    assert all(isinstance(row["id"], str) for row in client.get("/v1/object_types").json()["types"])
    assert all("id" not in row for row in client.get("/v1/snippets").json()["snippets"])


def test_cursor_pages_carry_a_string_next(client: httpx.Client) -> None:
    body = client.get("/v1/newsletters", params={"limit": 100}).json()
    assert set(body) == {"newsletters", "next"}
    assert isinstance(body["next"], str) and not body["next"].isdigit()


def test_workspaces(sb: SandboxServer, client: httpx.Client) -> None:
    body = client.get("/v1/workspaces").json()
    assert set(body) == {"workspaces"}
    check_like("workspaces", body["workspaces"], example("workspaces_list")["workspaces"][0])
    assert body["workspaces"][0]["object_types"] == sb.workspace.expected_rows("object_types")


def test_unknown_path_is_json_404(client: httpx.Client) -> None:
    for path in ("/v1/nothing_here", "/v2/campaigns", "/", "/v1/reporting_webhooks/abc"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        response.json()
