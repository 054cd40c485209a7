"""A query cannot hold the service: past the time limit it is stopped with a sentence, and the
service goes on loading meanwhile."""

from __future__ import annotations

import threading

import pytest

from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse.query import QueryError, run_query
from cio_warehouse.warehouse.readers import ENV_QUERY_TIMEOUT
from tests.security.conftest import Linked
from tests.security.hostile_sql import one_sentence
from tests.web_api.conftest import start_app

# Far longer than any test's patience, on every engine the query path serves.
ENDLESS = {
    "duckdb": "SELECT count(*) FROM range(1000000000000000) a",
    "delta": "SELECT count(*) FROM range(1000000000000000) a",
    "postgres": "SELECT pg_sleep(3600)",
}


def test_the_cli_stops_a_query_at_the_limit(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_QUERY_TIMEOUT, "1")
    with pytest.raises(QueryError, match="ran longer than its limit of 1 s") as stopped:
        run_query(linked.data_dir, ENDLESS[linked.engine])
    assert one_sentence(str(stopped.value))
    assert run_query(linked.data_dir, "SELECT count(*) FROM acme.campaigns").rows[0][0] > 0


def test_the_service_stops_a_query_and_loads_meanwhile(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_QUERY_TIMEOUT, "4")
    app = start_app(linked.data_dir)
    try:
        with app.admin() as http:
            answers: list[object] = []
            query = threading.Thread(target=lambda: answers.append(
                http.post("/api/v1/query", json={"sql": ENDLESS[linked.engine]})
            ))
            query.start()
            # The sync loads through the same instance (on DuckDB) while the query runs.
            (outcome,) = run_sync(linked.store, "acme", ["segments"])
            query.join(timeout=120)
            assert outcome.status == "succeeded", outcome.error
            (answer,) = answers
            assert answer.status_code == 400, answer.text  # type: ignore[attr-defined]
            error = answer.json()["error"]  # type: ignore[attr-defined]
            assert "ran longer than its limit of 4 s" in error and one_sentence(error)
            after = http.post("/api/v1/query", json={"sql": "SELECT count(*) FROM acme.segments"})
            assert after.status_code == 200 and after.json()["rows"][0][0] > 0
    finally:
        app.stop()


@pytest.mark.parametrize("linked", ["duckdb"], indirect=True)
@pytest.mark.parametrize("value", ["0", "-5", "soon", "1e9"])
def test_a_time_limit_that_is_not_one_is_refused(
    linked: Linked, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_QUERY_TIMEOUT, value)
    with pytest.raises(QueryError, match=f"{ENV_QUERY_TIMEOUT}=") as refused:
        run_query(linked.data_dir, "SELECT 1")
    assert one_sentence(str(refused.value))
