"""The generated workspace: deterministic by seed, lazy, sized by presets, with the API's quirks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tracemalloc
from typing import Any

import pytest

from cio_warehouse.sandbox import TABLES, Workspace

TABLE_NAMES = sorted(TABLES)


def digest(workspace: Workspace) -> str:
    text = json.dumps({t: list(workspace.rows(t)) for t in TABLE_NAMES}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def test_same_seed_same_rows() -> None:
    assert digest(Workspace.preset("small", seed=3)) == digest(Workspace.preset("small", seed=3))


def test_other_seed_other_rows() -> None:
    assert digest(Workspace.preset("small", seed=3)) != digest(Workspace.preset("small", seed=4))


def test_same_rows_in_another_process() -> None:
    """Nothing depends on PYTHONHASHSEED or on the process: another interpreter agrees."""
    code = (
        "from cio_warehouse.sandbox import Workspace;"
        "from tests.sandbox.test_workspace import digest;"
        "print(digest(Workspace.preset('small', seed=3)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=os.getcwd()).stdout.strip()
    assert out == digest(Workspace.preset("small", seed=3))


def test_row_by_index_matches_iteration() -> None:
    workspace = Workspace.preset("small", seed=2)
    for table in TABLE_NAMES:
        rows = list(workspace.rows(table))
        assert len(rows) == workspace.expected_rows(table)
        assert rows[-1] == workspace.row(table, len(rows) - 1)


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_primary_keys_unique(table: str) -> None:
    workspace = Workspace.preset("medium", seed=5)
    key = "name" if table == "snippets" else "id"
    values = [row[key] for row in workspace.rows(table)]
    assert len(values) == len(set(values)) == workspace.counts[table]


def test_small_preset_shape() -> None:
    """The demo: a handful to a few dozen rows everywhere; cursor tables span 3 pages of 100."""
    workspace = Workspace.preset("small")
    for table in TABLE_NAMES:
        assert workspace.expected_rows(table) >= 4
    for table in ("newsletters", "sender_identities"):
        assert 200 < workspace.expected_rows(table, hidden=False) <= 300


def test_scaled_and_explicit_counts() -> None:
    workspace = Workspace.scaled(1, 400)
    assert workspace.expected_rows("newsletters") == 100_000
    assert workspace.expected_rows("sender_identities") == 96_000
    assert Workspace(newsletters=7).expected_rows("newsletters") == 7
    assert Workspace.preset("large").expected_rows("sender_identities") == 100_000
    with pytest.raises(ValueError):
        Workspace.preset("huge")
    with pytest.raises(ValueError):
        Workspace(segments=-1)


def test_large_workspace_is_lazy() -> None:
    """100k rows are built on demand: creating and paging deep costs little memory."""
    tracemalloc.start()
    try:
        workspace = Workspace.preset("large", seed=9)
        rows, next_index = workspace.page("newsletters", 99_900, 100, hidden=True)
        visible = workspace.expected_rows("sender_identities", hidden=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rows) == 100 and next_index is None
    assert 80_000 < visible < 95_000
    assert peak < 8 * 1024 * 1024


def test_hidden_senders() -> None:
    workspace = Workspace.preset("small", seed=1)
    everyone = list(workspace.rows("sender_identities"))
    visible = list(workspace.rows("sender_identities", hidden=False))
    assert 0 < len(everyone) - len(visible) < len(everyone) // 4
    assert {row["id"] for row in visible} < {row["id"] for row in everyone}
    assert len(visible) == workspace.expected_rows("sender_identities", hidden=False)


def _all(table: str, seeds: range = range(1, 4)) -> list[dict[str, Any]]:
    return [row for seed in seeds for row in Workspace.preset("small", seed).rows(table)]


def test_quirk_broadcast_with_nil_tags() -> None:
    """Exactly one broadcast per workspace copies the published example's "tags": "nil"."""
    for seed in range(1, 6):
        rows = list(Workspace.preset("small", seed).rows("broadcasts"))
        odd = [row for row in rows if row["tags"] == "nil"]
        assert len(odd) == 1
        assert {"type": "webhook"} in odd[0]["actions"]


def test_quirk_segments_null_tags_and_progress() -> None:
    rows = _all("segments")
    assert any(row["tags"] is None for row in rows)
    assert any(isinstance(row["tags"], list) for row in rows)
    assert any(row["progress"] is None for row in rows)
    assert all(row["progress"] is None or isinstance(row["progress"], int) for row in rows)


def test_quirk_unknown_fields_and_trigger_fields() -> None:
    documented = {"id", "deduplicate_id", "name", "description", "state", "progress", "type",
                  "tags", "created_at", "updated_at"}
    assert any(set(row) - documented for row in _all("segments"))
    campaigns = _all("campaigns")
    assert any("event_name" in row for row in campaigns)
    assert any("date_attribute" in row for row in campaigns)
    assert any("event_name" not in row and "date_attribute" not in row for row in campaigns)


def test_cursor_end_varies_by_seed_and_table() -> None:
    ends = {
        Workspace(seed).cursor_end(table)
        for seed in range(1, 20) for table in ("newsletters", "sender_identities")
    }
    assert ends == {"missing", "null", "empty"}
    assert Workspace(1, cursor_end="null").cursor_end("newsletters") == "null"


def test_timestamps_are_unix_seconds() -> None:
    for table in TABLE_NAMES:
        for row in Workspace.preset("small").rows(table):
            for field in ("created", "updated", "created_at", "updated_at", "sent_at"):
                if field in row:
                    assert isinstance(row[field], int)
                    assert 1_500_000_000 < row[field] < 1_800_000_000
