"""The help a user reads, from the real `cio-warehouse` process: every command's page is free of
stray spaces before punctuation and of Python type notation, `--table` names the tables, and
`source` (the first step) comes first."""

from __future__ import annotations

import re
from pathlib import Path

from cio_warehouse import catalog
from tests.helpers import run_cli_in


def _help(tmp_path: Path, *command: str) -> str:
    result = run_cli_in(tmp_path, *command, "--help")
    assert result.code == 0, result.output
    return result.stdout


def _commands(page: str) -> list[str]:
    """The names in the Commands panel, in their order."""
    panel = page.split("Commands ", 1)[1]
    return re.findall(r"^│ ([a-z][a-z-]*) ", panel, re.MULTILINE)


def test_every_help_page_reads_cleanly(tmp_path: Path) -> None:
    top = _help(tmp_path)
    pages = {(): top}
    for name in _commands(top):
        page = _help(tmp_path, name)
        pages[(name,)] = page
        if "Commands " in page:
            for sub in _commands(page):
                pages[(name, sub)] = _help(tmp_path, name, sub)
    assert len(pages) > 15, sorted(pages)
    for command, page in pages.items():
        text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", page).split())  # the words, unboxed
        assert not re.search(r"\w \.(\s|$)|\w ,\s", text), (command, text)
        assert not re.search(r"<(bool|str|int|float|path|list\[.*?\])>", text), (command, text)
    assert not (tmp_path / "cio-warehouse-data").exists()  # help touches no data dir


def test_table_options_name_the_tables(tmp_path: Path) -> None:
    synced = " ".join(_help(tmp_path, "sync").split())
    for table in catalog.SYNCED_TABLES:
        assert table.name in synced, table.name
    for table in catalog.WEBHOOK_TABLES:
        assert table.name not in synced, table.name  # they cannot be synced
    selectable = " ".join(_help(tmp_path, "source", "add").split())
    for table in catalog.TABLES:
        assert table.name in selectable, table.name


def test_source_is_listed_first(tmp_path: Path) -> None:
    assert _commands(_help(tmp_path))[:5] == ["source", "sync", "tables", "status", "query"]
