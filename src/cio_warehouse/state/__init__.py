"""The data dir: linked sources, run history and secrets (encrypted at rest)."""

from cio_warehouse.state.datadir import DataDir, resolve_data_dir
from cio_warehouse.state.errors import StateError
from cio_warehouse.state.source_settings import SourceSettings
from cio_warehouse.state.store import RunRecord, SourceConfig, StateStore

__all__ = [
    "DataDir", "RunRecord", "SourceConfig", "SourceSettings", "StateError", "StateStore",
    "resolve_data_dir",
]
