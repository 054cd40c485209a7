"""The live-vs-docs switches (docs/customerio-behaviour.md): each reading as a client sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_warehouse.sandbox import TABLES, Behaviour, SandboxServer, Workspace

from .conftest import KEY, client_for, read_all

SENDERS = ("/v1/sender_identities", "sender_identities")


@pytest.fixture(scope="module")
def live() -> Iterator[SandboxServer]:
    workspace = Workspace.preset("small", seed=11, behaviour=Behaviour.live())
    with SandboxServer(workspace, api_key=KEY, rate_limit_rps=None) as server:
        yield server


def test_sender_rows_carry_hidden(sb: SandboxServer) -> None:
    with client_for(sb) as client:
        everyone, _ = read_all(client, *SENDERS, hidden="true")
    assert {row["hidden"] for row in everyone} == {True, False}
    assert [row for row in everyone if not row["hidden"]] == list(
        sb.workspace.rows("sender_identities", hidden=False)
    )


def test_docs_hidden_true_lists_everyone_live_only_the_hidden(
    sb: SandboxServer, live: SandboxServer
) -> None:
    with client_for(sb) as docs_client, client_for(live) as live_client:
        docs_all, _ = read_all(docs_client, *SENDERS, hidden="true")
        live_hidden, _ = read_all(live_client, *SENDERS, hidden="true")
        live_visible, _ = read_all(live_client, *SENDERS)
    assert len(docs_all) == sb.workspace.expected_rows("sender_identities")
    assert live_hidden and all(row["hidden"] for row in live_hidden)
    assert live_visible and not any(row["hidden"] for row in live_visible)
    # Both lists together are the docs' one list.
    assert sorted(r["id"] for r in live_hidden + live_visible) == sorted(r["id"] for r in docs_all)


def test_live_cursor_lists_end_with_a_cursor_then_an_empty_page(live: SandboxServer) -> None:
    expected = live.workspace.expected_rows("newsletters")
    with client_for(live) as client:
        rows, requests = read_all(client, "/v1/newsletters", "newsletters", limit=100)
        last = client.get("/v1/newsletters", params={"limit": 1000}).json()
        empty = client.get("/v1/newsletters", params={"start": last["next"]}).json()
    assert len(rows) == expected
    assert requests == -(-expected // 100) + 1  # one more: the trailing empty page
    assert len(last["newsletters"]) == expected and last["next"]
    assert not empty["newsletters"] and not empty.get("next")  # [] or, live, null


@pytest.mark.parametrize("table", [name for name, s in TABLES.items() if not s.paged])
def test_live_unpaged_lists_page_anyway(live: SandboxServer, table: str) -> None:
    spec = TABLES[table]
    expected = list(live.workspace.rows(spec.name))
    with client_for(live) as client:
        first = client.get(spec.path).json()
        rows, _ = read_all(client, spec.path, spec.list_key, limit=10)
    assert len(first[spec.list_key]) == min(10, len(expected))
    assert rows == expected
    if len(expected) > 10:
        assert first["next"]


def test_docs_unpaged_lists_are_one_page(sb: SandboxServer) -> None:
    with client_for(sb) as client:
        body = client.get("/v1/campaigns").json()
    assert len(body["campaigns"]) == sb.workspace.expected_rows("campaigns")
    assert "next" not in body


def test_live_empty_lists_are_null_docs_empty_arrays() -> None:
    nothing = {name: 0 for name in TABLES}
    for behaviour, empty in ((Behaviour(), []), (Behaviour.live(), None)):
        workspace = Workspace(1, behaviour=behaviour, **nothing)
        with SandboxServer(workspace, api_key=KEY, rate_limit_rps=None) as server, \
                client_for(server) as client:
            for spec in TABLES.values():
                assert client.get(spec.path).json()[spec.list_key] == empty, spec.name


def test_behaviour_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="hidden_senders"):
        Behaviour(hidden_senders="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unpaged_page_size"):
        Behaviour(unpaged_page_size=0)
