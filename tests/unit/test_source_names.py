"""Source names: each becomes a SQL schema, so the warehouse's own schema names are refused."""

from __future__ import annotations

import pytest

from cio_warehouse.sources import check_name_format, validate_name
from cio_warehouse.state import StateError

# The list, and what was added to it (sources.RESERVED_NAMES says why for each).
RESERVED = [
    "public", "main", "information_schema", "pg_catalog", "temp",
    "acme_staging", "x_staging",
    "pg_anything", "pg",
    "system", "warehouse", "memory", "cio_inbox",
]


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_name_is_refused_in_one_sentence_that_says_what_to_do(name: str) -> None:
    with pytest.raises(StateError) as refused:
        validate_name(name)
    message = str(refused.value)
    assert f"{name!r} is reserved" in message
    assert "SQL schema" in message and "pick another name, e.g. " in message
    assert message.replace("e.g. ", "").count(". ") == 0 and message.endswith(".")
    suggestion = message.rsplit("e.g. ", 1)[1].rstrip(".").strip("'")
    assert validate_name(suggestion) == suggestion  # the example given is itself accepted


@pytest.mark.parametrize("name", ["acme", "staging", "acme_staging2", "pgx", "publication",
                                  "mainland", "temp_eu", "public_eu", "acme_stagin"])
def test_names_that_only_resemble_a_reserved_one_are_accepted(name: str) -> None:
    assert validate_name(name) == name


def test_the_format_rule_still_comes_first() -> None:
    with pytest.raises(StateError, match="Invalid source name '_dlt_loads'"):
        validate_name("_dlt_loads")  # dlt's own names start with _: never a source's


def test_an_existing_source_with_a_name_reserved_since_can_still_be_looked_up() -> None:
    assert check_name_format("main") == "main"
