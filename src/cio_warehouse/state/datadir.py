"""Where a data dir keeps its files; one place so that nothing else builds these paths."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cio_warehouse.state.errors import StateError

ENV_DATA_DIR = "CIO_WAREHOUSE_DATA_DIR"
DEFAULT_DATA_DIR = "./cio-warehouse-data"

# Files of the data dir that cio-warehouse or its libraries write, with the journals SQLite and
# DuckDB keep beside their databases (secret.key is not here: one others could read is refused,
# see state/crypto.py, since they may have read it already).
_SIDECARS = {
    "state.db": ("-wal", "-shm", "-journal"),
    "inbox.db": ("-wal", "-shm", "-journal"),
    "warehouse.duckdb": (".wal",),
}
_OWN_FILES = ("service.json", "admin_token.json", "web_settings.json")


def keep_files_private() -> None:
    """Every file and directory this process creates from now on is private (umask 077).

    Called first by each entry point (the CLI, the receiver process). A umask, not a mode per
    file: SQLite, DuckDB and dlt create files all along (DuckDB's .wal after each checkpoint,
    dlt's load packages per load) with no hook to set a mode, and a child process (the receiver
    `serve` starts) inherits it.
    """
    os.umask(0o077)


def resolve_data_dir(option: str | os.PathLike[str] | None) -> Path:
    """`--data-dir`, else $CIO_WAREHOUSE_DATA_DIR, else ./cio-warehouse-data."""
    raw = option or os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class DataDir:
    root: Path

    def create(self) -> DataDir:
        """The data dir, made 0700 (it holds the warehouse, the run history and the encrypted
        secrets), or made private if it was not: a dir made earlier by hand or by a version with
        a looser umask, and its files."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._make_private()
        return self

    def existing(self) -> DataDir:
        """This data dir, if it exists: for commands that only read, which must not make a new
        one (with a new secret.key) where a user mistyped the path."""
        if not self.root.is_dir():
            raise StateError(
                f"There is no cio-warehouse data dir at {self.root}: pass --data-dir (or set "
                f"${ENV_DATA_DIR}) to use yours, or link a source with `cio-warehouse source add`."
            )
        return self

    def _make_private(self) -> None:
        _tighten(self.root, 0o700)
        for name, sidecars in _SIDECARS.items():
            for suffix in ("", *sidecars):
                _tighten(self.root / (name + suffix), 0o600)
        for name in _OWN_FILES:
            _tighten(self.root / name, 0o600)
        if _tighten(self.pipelines, 0o700):
            # Made with a looser umask (dlt's working files of an earlier version): all of it.
            for top, dirs, files in os.walk(self.pipelines):
                for name in dirs:
                    _tighten(Path(top, name), 0o700)
                for name in files:
                    _tighten(Path(top, name), 0o600)

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


def _tighten(path: Path, private: int) -> bool:
    """chmod `path` to `private` if others may use it; whether it did. A missing path (a journal
    that came and went) is nothing to do; a symlink is not followed."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077 or stat.S_ISLNK(st.st_mode):
        return False
    try:
        path.chmod(private)
    except PermissionError:
        raise StateError(
            f"{path} can be read by other users (mode {mode:04o}) and is not ours to change: "
            f"make it private with `chmod {private:o} {path}` as its owner, or use a data dir of "
            "your own."
        ) from None
    return True
