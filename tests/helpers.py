"""Helpers the tests share: link the sandbox in a store, run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore

CLI = Path(sys.executable).with_name("cio-warehouse")


def add_source(
    store: StateStore,
    sandbox: SandboxServer,
    api_key: str,
    name: str = "acme",
    **settings: object,
) -> SourceConfig:
    """Link the sandbox directly in the store (no key check), with client setting overrides."""
    source = SourceConfig(
        name=name,
        region="us",
        app_api_key=Secret(api_key),
        api_base_url=sandbox.url,
        tables=tuple(t.name for t in catalog.TABLES),
        settings=dict(settings),
    )
    store.add_source(source)
    return source


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    data_dir: DataDir, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """The installed console script in its own process, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if k != "CIO_APP_API_KEY"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    proc = subprocess.run(
        [str(CLI), "--data-dir", str(data_dir.root), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
