"""Cursor paging of newsletters and sender_identities: limits, cursors, ends, hidden senders."""

from __future__ import annotations

import httpx
import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace

from .conftest import KEY, client_for, read_all

PAGED = ("newsletters", "sender_identities")


@pytest.mark.parametrize("table", PAGED)
@pytest.mark.parametrize("limit", [1, 7, 100, 1000])
def test_full_read_returns_every_row_once(
    sb: SandboxServer, client: httpx.Client, table: str, limit: int
) -> None:
    rows, requests = read_all(client, f"/v1/{table}", table, limit=limit)
    expected = sb.workspace.expected_rows(table, hidden=False)
    assert len(rows) == expected
    assert len({row["id"] for row in rows}) == expected
    assert requests == max(1, -(-expected // limit))


def test_limit_defaults_to_100_and_clamps_at_1000(client: httpx.Client) -> None:
    assert len(client.get("/v1/newsletters").json()["newsletters"]) == 100
    workspace = Workspace(newsletters=2500)
    with SandboxServer(workspace, api_key=KEY, rate_limit_rps=None) as big, client_for(big) as c:
        page = c.get("/v1/newsletters", params={"limit": 5000}).json()
    assert len(page["newsletters"]) == 1000


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", ""])
def test_bad_limit_is_400(client: httpx.Client, limit: str) -> None:
    assert client.get("/v1/newsletters", params={"limit": limit}).status_code == 400


@pytest.mark.parametrize("start", ["not-a-cursor", "12", "bmV3c2xldHRlcnM6MTAwOmJhZA", "%%%"])
def test_malformed_start_is_400(client: httpx.Client, start: str) -> None:
    assert client.get("/v1/newsletters", params={"start": start}).status_code == 400


def test_cursor_of_another_table_is_400(client: httpx.Client) -> None:
    cursor = client.get("/v1/newsletters").json()["next"]
    assert client.get("/v1/sender_identities", params={"start": cursor}).status_code == 400


def test_hidden_senders_only_with_hidden_true(sb: SandboxServer, client: httpx.Client) -> None:
    visible, _ = read_all(client, "/v1/sender_identities", "sender_identities")
    everyone, _ = read_all(client, "/v1/sender_identities", "sender_identities", hidden="true")
    workspace = sb.workspace
    assert len(visible) == workspace.expected_rows("sender_identities", hidden=False)
    assert len(everyone) == workspace.expected_rows("sender_identities", hidden=True)
    assert len(everyone) > len(visible)
    assert everyone == list(workspace.rows("sender_identities"))
    assert visible == list(workspace.rows("sender_identities", hidden=False))


@pytest.mark.parametrize("end", ["missing", "null", "empty"])
def test_each_end_variant(end: str) -> None:
    workspace = Workspace.preset("tiny", cursor_end=end)
    with SandboxServer(workspace, api_key=KEY, rate_limit_rps=None) as server, \
            client_for(server) as c:
        first = c.get("/v1/newsletters", params={"limit": 3}).json()
        last = c.get("/v1/newsletters", params={"limit": 3, "start": first["next"]}).json()
    assert len(first["newsletters"]) + len(last["newsletters"]) == 5
    expected = {"missing": ..., "null": None, "empty": ""}[end]
    assert last.get("next", ...) == expected


def test_the_end_varies_by_seed() -> None:
    """Without an override, seeds and tables between them show all three endings."""
    seen = set()
    for seed in range(1, 8):
        with SandboxServer(Workspace.preset("tiny", seed), api_key=KEY,
                           rate_limit_rps=None) as server, client_for(server) as c:
            for table in PAGED:
                body = c.get(f"/v1/{table}", params={"limit": 1000, "hidden": "true"}).json()
                seen.add(repr(body.get("next", "<missing>")))
    assert seen == {"'<missing>'", "None", "''"}


def test_non_paged_tables_ignore_paging_params(sb: SandboxServer, client: httpx.Client) -> None:
    body = client.get("/v1/campaigns", params={"limit": 1, "start": "x"}).json()
    assert set(body) == {"campaigns"}
    assert len(body["campaigns"]) == sb.workspace.expected_rows("campaigns")
