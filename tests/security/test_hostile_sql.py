"""Hostile SQL through every door the query path has (the CLI alone, the JSON API and the SQL box
of a running service, the CLI through that service), on DuckDB, Delta Lake and PostgreSQL.

Each statement must be refused with one sentence, leave the canary file unread and nothing
written beside it, and change no table and no setting; the service goes on loading after.
"""

from __future__ import annotations

import pytest

from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse.query import QueryError, QueryResult, run_query
from tests.helpers import ServeProcess, run_cli
from tests.security.conftest import Linked
from tests.security.hostile_sql import DUCKDB, POSTGRES, one_sentence
from tests.web_api.conftest import start_app


def _shapes(linked: Linked) -> list[str]:
    # PostgreSQL meets DuckDB's shapes too: its guard parses with DuckDB's parser.
    templates = DUCKDB + POSTGRES if linked.engine == "postgres" else DUCKDB
    return [linked.canary.fill(t) for t in templates]


def _problems(linked: Linked, sql: str, refused: bool, message: str) -> list[str]:
    found = []
    if not refused:
        found.append("ran")
    if not one_sentence(message):
        found.append(f"not one sentence: {message!r}")
    if linked.canary.token in message:
        found.append("the canary's content came back")
    return [f"{sql!r}: {p}" for p in found]


def test_the_cli_refuses_every_shape(linked: Linked) -> None:
    """The CLI's own path when no service runs (a read-only connection, or a read-only
    PostgreSQL session, or the Delta reader's instance)."""
    before = linked.snapshot()
    problems: list[str] = []
    for sql in _shapes(linked):
        try:
            run_query(linked.data_dir, sql)
        except QueryError as exc:
            problems += _problems(linked, sql, True, str(exc))
        else:
            problems += _problems(linked, sql, False, "")
    assert problems == []
    assert linked.canary.untouched() == []
    assert linked.snapshot() == before


def test_the_json_api_and_the_sql_box_refuse_every_shape(linked: Linked) -> None:
    """POST /api/v1/query, which the SQL box calls, on a running service; its DuckDB instance is
    the one its loads write through, so a sync must still work after."""
    app = start_app(linked.data_dir)
    try:
        with app.admin() as http:
            def read(sql: str) -> QueryResult:
                answer = http.post("/api/v1/query", json={"sql": sql, "max_rows": 100})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                return QueryResult(body["columns"], [tuple(r) for r in body["rows"]])

            before = linked.snapshot(read)
            problems: list[str] = []
            for sql in _shapes(linked):
                answer = http.post("/api/v1/query", json={"sql": sql, "max_rows": 100})
                body = answer.json()
                problems += _problems(
                    linked, sql, answer.status_code == 400 and body.get("field") == "sql",
                    str(body.get("error", answer.text)),
                )
            assert problems == []
            assert linked.canary.untouched() == []
            assert linked.snapshot(read) == before
            # The loads share the instance the queries ran on: they go on as before.
            (outcome,) = run_sync(linked.store, "acme", ["segments"])
            assert outcome.status == "succeeded", outcome.error
            assert linked.snapshot(read)[:2] == before[:2]
    finally:
        app.stop()


SAMPLE = [
    "EXPLAIN ANALYZE CREATE TABLE acme.loot AS SELECT * FROM read_blob(['{secret}'])",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
    "SELECT content::INTEGER FROM read_text('{secret}')",
    "WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d",
    "SELECT 1; DROP TABLE acme.campaigns",
]


# The CLI's own process is the same whatever the engine: DuckDB shows it.
@pytest.mark.parametrize("linked", ["duckdb"], indirect=True)
@pytest.mark.parametrize("through_service", [False, True], ids=["alone", "through-serve"])
def test_the_command_line_says_one_sentence(linked: Linked, through_service: bool) -> None:
    """The installed CLI as a user runs it: exit 1, one sentence on stderr, nothing leaked."""
    serve = ServeProcess(linked.data_dir).start() if through_service else None
    try:
        for template in SAMPLE:
            result = run_cli(linked.data_dir, "query", linked.canary.fill(template))
            assert result.code == 1, result.output
            assert result.stdout == ""
            assert one_sentence(result.stderr.strip().removeprefix("Error: ")), result.stderr
            assert linked.canary.token not in result.output
        ok = run_cli(linked.data_dir, "query", "select count(*) from acme.campaigns")
        assert ok.code == 0, ok.output
    finally:
        if serve is not None:
            serve.stop()
    assert linked.canary.untouched() == []
