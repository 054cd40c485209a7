"""The JSON log format: one object a line, the source and table of the code that logged, no
secret; and a command's error in that format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cio_warehouse.log_format import JsonFormatter, in_log_context, log_context
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir
from tests.helpers import run_cli


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.log_format")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_fields_come_from_extra_and_from_the_context(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    logger.warning("plain")
    logger.warning("by extra", extra={"source": "acme"})
    with log_context(source="acme"):
        logger.info("in a job")
        with ThreadPoolExecutor(1) as pool:
            # A worker thread starts with no context: in_log_context() carries it there.
            pool.submit(in_log_context(logger.info, table="campaigns"), "in a table").result()
            pool.submit(logger.info, "bare thread").result()
    lines = _lines(out)
    assert [(x["message"], x.get("source"), x.get("table")) for x in lines] == [
        ("plain", None, None), ("by extra", "acme", None), ("in a job", "acme", None),
        ("in a table", None, "campaigns"), ("bare thread", None, None),
    ]
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "tests.log_format"
    assert lines[0]["time"].endswith("Z")


def test_a_secret_and_a_traceback_stay_one_safe_line(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = logged
    key = "sbx_" + "7" * 40
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("key %r failed", Secret(key))
    text = out.getvalue()
    assert key not in text and len(text.splitlines()) == 1
    (line,) = _lines(out)
    assert "Secret(" in line["message"] and "ValueError: boom" in line["exception"]


def test_a_command_error_is_a_json_line_without_the_password(data_dir: DataDir) -> None:
    result = run_cli(data_dir, "receive", "--log-format", "json",
                     env={"CIO_WAREHOUSE_INBOX": "mysql://cio:hunter2-pw@db.example/cio"})
    assert result.code == 1
    (line,) = [json.loads(x) for x in result.stderr.splitlines()]
    assert line["level"] == "ERROR" and "PostgreSQL" in line["message"]
    assert "hunter2-pw" not in result.output
