"""Hostile SQL: statements that try to read or write files, change the warehouse or its settings,
or leave the warehouse through a side door, in every shape the query path could meet them.

Each is a template over a `Canary`: `{secret}` is a file whose content (`{token}`) must never come
back, `{out}` a path that must never be written, `{dir}` the folder both live in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

# What the issue saw get through, then every shape of the same attack we could think of.
DUCKDB = [
    # EXPLAIN ANALYZE runs its statement.
    "EXPLAIN ANALYZE CREATE TABLE acme.loot AS SELECT * FROM read_blob(['{secret}'])",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
    "EXPLAIN ANALYZE DROP TABLE acme.campaigns",
    "EXPLAIN ANALYZE SET enable_external_access = false",
    "EXPLAIN ANALYZE INSTALL httpfs",
    "EXPLAIN ANALYSE DELETE FROM acme.campaigns",
    "/* c */ explain /* d */ analyze -- e\n drop table acme.campaigns",
    "eXpLaIn AnAlYzE dRoP tAbLe acme.campaigns",
    "EXPLAIN (ANALYZE) DELETE FROM acme.campaigns",
    "EXPLAIN (FORMAT json, ANALYZE) COPY acme.campaigns TO '{out}'",
    "EXPLAIN ANALYZE VERBOSE DELETE FROM acme.campaigns",
    "EXPLAIN ANALYZE EXPLAIN ANALYZE DROP TABLE acme.campaigns",
    "EXPLAIN SELECT * FROM read_text('{secret}')",
    "EXPLAIN ANALYZE SELECT * FROM read_text('{secret}')",
    "EXPLAIN ANALYZE WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d",
    # Files, directly.
    "COPY (SELECT 1) TO '{out}'",
    "COPY acme.campaigns TO '{out}' (FORMAT csv)",
    "EXPORT DATABASE '{dir}/export'",
    "IMPORT DATABASE '{dir}'",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_json_auto('{secret}')",
    "SELECT * FROM read_parquet('{secret}')",
    "SELECT * FROM read_text('/proc/self/environ')",
    "SELECT * FROM read_text(['{secret}', '{dir}/state.db'])",
    "sElEcT * FrOm ReAd_TeXt('{secret}')",
    "((SELECT * FROM read_text('{secret}')))",
    "FROM read_text('{secret}')",
    "FROM read_text('{secret}') SELECT content",
    "SELECT * FROM '{secret}'",
    "FROM '{secret}'",
    'SELECT * FROM "{secret}"',
    "SELECT * FROM glob('{dir}/*')",
    "SELECT * FROM sqlite_scan('{secret}', 't')",
    "SELECT * FROM parquet_metadata('{secret}')",
    "SELECT * FROM sniff_csv('{secret}')",
    "SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')",
    "SELECT * FROM query_table('{secret}')",
    # Files, nested where a check could miss them.
    "WITH x AS (SELECT * FROM read_text('{secret}')) SELECT * FROM x",
    "WITH RECURSIVE r AS (SELECT content FROM read_text('{secret}') UNION SELECT 1) FROM r",
    "SELECT * FROM acme.campaigns, read_text('{secret}')",
    "SELECT * FROM acme.campaigns JOIN read_text('{secret}') ON true",
    "SELECT * FROM acme.campaigns WHERE name IN (SELECT content FROM read_text('{secret}'))",
    "SELECT (SELECT content FROM read_text('{secret}'))",
    "SELECT 1 UNION ALL SELECT size FROM read_text('{secret}')",
    "SELECT * FROM acme.campaigns, LATERAL (SELECT * FROM read_text('{secret}'))",
    # File contents through a conversion error.
    "SELECT content::INTEGER FROM read_text('{secret}')",
    "SELECT CAST((SELECT content FROM read_text('{secret}')) AS INTEGER)",
    # SUMMARIZE, DESCRIBE, SHOW and PIVOT over file functions.
    "SUMMARIZE SELECT * FROM read_text('{secret}')",
    "SUMMARIZE '{secret}'",
    "DESCRIBE SELECT * FROM read_text('{secret}')",
    "DESCRIBE '{secret}'",
    "SHOW SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM (SUMMARIZE FROM read_text('{secret}'))",
    "PIVOT (SELECT * FROM read_text('{secret}')) ON filename USING count(*)",
    "SELECT * FROM (PIVOT (FROM read_text('{secret}')) ON size IN (1) USING count(*))",
    "UNPIVOT (FROM read_text('{secret}')) ON content INTO NAME k VALUE v",
    # The environment, settings, secrets, extensions.
    "SELECT getenv('CIO_WAREHOUSE_SECRET_KEY')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM duckdb_extensions()",
    "SET enable_external_access = false",
    "SET memory_limit = '1KB'",
    "RESET memory_limit",
    "SET GLOBAL threads = 1",
    "PRAGMA threads = 1",
    "PRAGMA enable_profiling",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "ATTACH '{out}' AS other",
    "ATTACH ':memory:' AS other",
    "DETACH acme",
    "USE acme",
    # Writes to the warehouse.
    "DROP TABLE acme.campaigns",
    "DELETE FROM acme.campaigns",
    "UPDATE acme.campaigns SET name = 'x'",
    "INSERT INTO acme.campaigns (id) VALUES (999)",
    "TRUNCATE acme.campaigns",
    "CREATE TABLE acme.loot AS SELECT 1 AS x",
    "CREATE VIEW acme.loot AS SELECT 1 AS x",
    "CREATE SEQUENCE acme.s",
    "ALTER TABLE acme.campaigns RENAME TO gone",
    "WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d",
    "WITH i AS (INSERT INTO acme.campaigns (id) VALUES (999) RETURNING *) SELECT count(*) FROM i",
    "WITH u AS (UPDATE acme.campaigns SET name = 'x' RETURNING *) SELECT count(*) FROM u",
    "SELECT * FROM (WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d)",
    "CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    # Macros, prepared statements, transactions, several statements, call forms.
    "CREATE MACRO leak() AS TABLE SELECT * FROM read_text('{secret}')",
    "CREATE TEMP MACRO leak(p) AS (SELECT content FROM read_text(p))",
    "PREPARE p AS SELECT * FROM read_text($1)",
    "EXECUTE p('{secret}')",
    "DEALLOCATE p",
    "BEGIN; DROP TABLE acme.campaigns; COMMIT",
    "COMMIT",
    "ROLLBACK",
    "SELECT 1; DROP TABLE acme.campaigns",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "SELECT 1;; SELECT * FROM read_text('{secret}')",
    "CALL read_text('{secret}')",
    "CALL pragma_table_info('acme.campaigns')",
    "SET VARIABLE v = 1",
]

POSTGRES = [
    "EXPLAIN ANALYZE DELETE FROM acme.campaigns",
    "EXPLAIN (ANALYZE) DROP TABLE acme.campaigns",
    "EXPLAIN (ANALYZE, BUFFERS) UPDATE acme.campaigns SET name = 'x'",
    "explain /* c */ analyse insert into acme.campaigns (id) values (999)",
    "WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d",
    "WITH u AS (UPDATE acme.campaigns SET name = 'x' RETURNING *) SELECT count(*) FROM u",
    "SELECT pg_read_file('{secret}')",
    "SELECT pg_read_binary_file('{secret}')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT pg_stat_file('{secret}')",
    "SELECT lo_import('{secret}')",
    "SELECT lo_export(1, '{out}')",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity",
    "SELECT pg_advisory_lock(1)",
    "SELECT query_to_xml('DELETE FROM acme.campaigns RETURNING 1', true, true, '')",
    "SELECT * FROM dblink('dbname=postgres', 'SELECT 1') AS t(x int)",
    "SELECT pg_reload_conf()",
    "COPY acme.campaigns TO '{out}'",
    "COPY (SELECT 1) TO PROGRAM 'touch {out}'",
    "DROP TABLE acme.campaigns",
    "DELETE FROM acme.campaigns",
    "CREATE TABLE acme.loot AS SELECT 1 AS x",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SELECT 1; DROP TABLE acme.campaigns",
    "DO $$ BEGIN DELETE FROM acme.campaigns; END $$",
    "PREPARE p AS DELETE FROM acme.campaigns",
    "EXECUTE p",
    "LOCK TABLE acme.campaigns",
    "VACUUM acme.campaigns",
    "NOTIFY x",
    "CALL acme.p()",
]


@dataclass(frozen=True)
class Canary:
    """A secret file beside the data, and a path that must stay unwritten."""

    dir: Path
    token: str

    @classmethod
    def plant(cls, folder: Path) -> Canary:
        folder.mkdir(parents=True, exist_ok=True)
        canary = cls(folder, "canary-" + secrets.token_hex(12))
        canary.secret.write_text(canary.token)
        return canary

    @property
    def secret(self) -> Path:
        return self.dir / "secret.key"

    @property
    def out(self) -> Path:
        return self.dir / "out.csv"

    def fill(self, template: str) -> str:
        return template.format(secret=self.secret, out=self.out, dir=self.dir, token=self.token)

    def untouched(self) -> list[str]:
        """What changed in the canary's folder (nothing, if the query path held)."""
        found = sorted(p.name for p in self.dir.iterdir())
        problems = [] if found == ["secret.key"] else [f"files in {self.dir}: {found}"]
        if self.secret.read_text() != self.token:
            problems.append("the secret file was rewritten")
        return problems


def one_sentence(message: str) -> bool:
    """A refusal a user reads: one line, ending with a full stop, no traceback."""
    return (
        "\n" not in message.strip() and message.strip().endswith(".")
        and "Traceback" not in message and len(message) < 600
    )
