"""Where a data dir keeps its files; one place so that nothing else builds these paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "CIO_WAREHOUSE_DATA_DIR"
DEFAULT_DATA_DIR = "./cio-warehouse-data"


def resolve_data_dir(option: str | os.PathLike[str] | None) -> Path:
    """`--data-dir`, else $CIO_WAREHOUSE_DATA_DIR, else ./cio-warehouse-data."""
    raw = option or os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class DataDir:
    root: Path

    def create(self) -> DataDir:
        # 0700: the dir holds the warehouse, the run history and the encrypted secrets.
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def secret_key_file(self) -> Path:
        return self.root / "secret.key"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def inbox(self) -> Path:
        """The receiver's durable inbox (SQLite): acked webhook deliveries until they are loaded."""
        return self.root / "inbox.db"

    @property
    def service_file(self) -> Path:
        """Written by a running `cio-warehouse serve`: how the CLI finds it (0600: has a token)."""
        return self.root / "service.json"

    @property
    def admin_token_file(self) -> Path:
        """The web app's admin token, hashed: the clear token is printed once, never stored."""
        return self.root / "admin_token.json"

    @property
    def web_settings(self) -> Path:
        """Settings of the web app that are not a source's, e.g. the public base URL."""
        return self.root / "web_settings.json"

    @property
    def pipelines(self) -> Path:
        """dlt's working dir (extract/normalize/load packages) for this data dir."""
        return self.root / "pipelines"
