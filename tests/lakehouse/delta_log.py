"""The tests' own reading of the Delta Lake protocol: a second engine beside deltalake (delta-rs).

A table's state at its latest version is the `add` actions of the JSON commits in _delta_log/
(00000000000000000000.json, ...) less the files a later `remove` action names; each added file is
Parquet, its path relative to the table's folder and URL-encoded (PROTOCOL.md, "Actions"). This
reader knows nothing else: it refuses tables with checkpoints, deletion vectors or column mapping,
which the tables under test must not need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Commit:
    version: int
    actions: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [a[kind] for a in self.actions if kind in a]


def commits(table: Path) -> list[Commit]:
    log = table / "_delta_log"
    assert not list(log.glob("*.checkpoint.parquet")), "checkpoints are beyond this reader"
    found = []
    for path in sorted(log.glob("*.json")):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        found.append(Commit(int(path.stem), actions))
    assert [c.version for c in found] == list(range(len(found))), "a gap in the Delta log"
    return found


def active_files(table: Path) -> list[Path]:
    live: dict[str, None] = {}
    for commit in commits(table):
        for protocol in commit.of("protocol"):
            features = set(protocol.get("readerFeatures") or [])
            assert not features & {"deletionVectors", "columnMapping"}, features
        for removed in commit.of("remove"):
            live.pop(removed["path"], None)
        for added in commit.of("add"):
            assert not added.get("partitionValues"), "partitioned tables are beyond this reader"
            live[added["path"]] = None
    return [table / unquote(p) for p in live]


def read(table: Path) -> pa.Table:
    """The table's rows at its latest version, read from its Parquet files directly."""
    parts = [pq.read_table(path) for path in active_files(table)]
    assert parts, f"{table} has no live files"
    return pa.concat_tables(parts, promote_options="default")
