"""The real `cio-warehouse` command against the sandbox over HTTP: linking, syncing, querying,
errors as one sentence, and the key never shown."""

from __future__ import annotations

import json

import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir
from tests.helpers import CliResult, run_cli


def _add(data_dir: DataDir, sandbox: SandboxServer, key: str, *extra: str) -> CliResult:
    return run_cli(
        data_dir,
        "source", "add", "acme", "--region", "us", "--api-base-url", sandbox.url, *extra,
        env={"CIO_APP_API_KEY": key},
    )


def _assert_one_sentence_error(result: CliResult) -> None:
    assert result.code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ")


def test_link_sync_query_status(data_dir: DataDir, sandbox: SandboxServer, api_key: str,
                                workspace: Workspace) -> None:
    added = _add(data_dir, sandbox, api_key)
    assert added.code == 0, added.output
    assert "Linked source acme" in added.stdout

    synced = run_cli(data_dir, "sync", "acme")
    assert synced.code == 0, synced.output
    assert "10 of 10 tables synced" in synced.stdout

    as_json = run_cli(data_dir, "query", "select id, name, created from acme.campaigns order by id",
                      "--format", "json")
    assert as_json.code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert len(rows) == workspace.expected_rows("campaigns")
    assert set(rows[0]) == {"id", "name", "created"}
    assert rows[0]["created"].endswith("+00:00")

    as_csv = run_cli(data_dir, "query", "select name from acme.snippets order by name",
                     "--format", "csv")
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "name" and len(lines) == 1 + workspace.expected_rows("snippets")

    tables = run_cli(data_dir, "tables", "acme")
    assert tables.code == 0
    for name in ("Tables of acme", "newsletters", "email_events", "full refresh", "webhook"):
        assert name in tables.stdout

    status = run_cli(data_dir, "status", "acme")
    assert status.code == 0 and "succeeded" in status.stdout

    listed = run_cli(data_dir, "source", "list")
    assert "acme" in listed.stdout and sandbox.url in listed.stdout


def test_wrong_key_names_the_three_causes(data_dir: DataDir, sandbox: SandboxServer) -> None:
    result = _add(data_dir, sandbox, "not-the-key")
    _assert_one_sentence_error(result)
    # The sandbox replaces the region's host: the message names it, not api.customer.io.
    host = sandbox.url.split("://", 1)[1]
    for cause in ("HTTP 401", "Track API key", f"region us, {host}", "the source's API base URL"):
        assert cause in result.stderr.replace("\n", " "), cause
    # Nothing was saved: the key check comes first.
    assert "No sources yet" in run_cli(data_dir, "source", "list").stdout


def test_missing_scope_names_the_resource(data_dir: DataDir, workspace: Workspace,
                                          api_key: str) -> None:
    with SandboxServer(workspace, api_key=api_key, forbidden_paths=["/v1/segments"]) as sandbox:
        assert _add(data_dir, sandbox, api_key).code == 0
        result = run_cli(data_dir, "sync", "acme", "--table", "segments", "--table", "snippets")
    assert result.code == 1
    text = " ".join(result.stdout.split())
    assert "segments failed: The App API key may not read segments (HTTP 403" in text
    assert "1 of 2 tables synced" in text


def test_errors_are_one_sentence(data_dir: DataDir) -> None:
    _assert_one_sentence_error(run_cli(data_dir, "status", "nope"))
    _assert_one_sentence_error(run_cli(data_dir, "query", "select 1"))  # no warehouse yet
    bad_region = run_cli(data_dir, "source", "add", "acme", "--region", "mars",
                         env={"CIO_APP_API_KEY": "k"})
    _assert_one_sentence_error(bad_region)
    assert "us, eu" in bad_region.stderr
    no_key = run_cli(data_dir, "source", "add", "acme")
    _assert_one_sentence_error(no_key)
    assert "CIO_APP_API_KEY" in no_key.stderr


def test_bad_sql_is_a_clear_error(data_dir: DataDir, sandbox: SandboxServer, api_key: str) -> None:
    _add(data_dir, sandbox, api_key)
    run_cli(data_dir, "sync", "acme", "--table", "snippets")
    result = run_cli(data_dir, "query", "select nope from acme.snippets")
    _assert_one_sentence_error(result)
    assert "query failed" in result.stderr
    writes = run_cli(data_dir, "query", "drop table acme.snippets")
    _assert_one_sentence_error(writes)
    assert "read-only" in writes.stderr


@pytest.mark.parametrize("table", ["email_events"])
def test_webhook_tables_cannot_be_synced(data_dir: DataDir, sandbox: SandboxServer, api_key: str,
                                         table: str) -> None:
    _add(data_dir, sandbox, api_key)
    result = run_cli(data_dir, "sync", "acme", "--table", table)
    _assert_one_sentence_error(result)
    assert "reporting webhook" in result.stderr


def test_key_never_appears_in_output_or_files(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str
) -> None:
    from cio_warehouse.sandbox import ServerError

    outputs = [_add(data_dir, sandbox, api_key)]
    sandbox.set_faults([ServerError(status=500, count=2)])
    outputs += [
        run_cli(data_dir, "sync", "acme"),
        run_cli(data_dir, "status", "acme"),
        run_cli(data_dir, "tables", "acme"),
        run_cli(data_dir, "source", "list"),
        run_cli(data_dir, "query", "select * from acme.campaigns", "--format", "json"),
        _add(data_dir, sandbox, api_key),  # duplicate: an error path
    ]
    for result in outputs:
        assert api_key not in result.output
    files = [p for p in data_dir.root.rglob("*") if p.is_file()]
    assert any(p.name == "warehouse.duckdb" for p in files)
    for path in files:
        assert api_key.encode() not in path.read_bytes(), path
