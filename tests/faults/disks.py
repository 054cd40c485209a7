"""Ways to make a data dir's disk full under a running process, and to give the space back."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class FullDisk(Protocol):
    def fill(self, pid: int) -> None:
        """From now on the process `pid` cannot grow the data dir's files."""

    def free(self, pid: int) -> None:
        """The space is back."""


class FileSizeLimit:
    """RLIMIT_FSIZE on the running process (prlimit), just above the data dir's largest file.

    A write past the limit fails with EFBIG, which SQLite reports as a disk I/O error; the
    process lives on because Python ignores SIGXFSZ from its start. No root needed. Only the
    soft limit is lowered, so that free() may raise it again.
    """

    def __init__(self, data_dir: Path, slack: int = 8 * 1024) -> None:
        self.data_dir = data_dir
        self.slack = slack

    def fill(self, pid: int) -> None:
        largest = max(p.stat().st_size for p in self.data_dir.iterdir() if p.is_file())
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (largest + self.slack, hard))

    def free(self, pid: int) -> None:
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))


class FilledTmpfs:
    """The data dir is a small tmpfs; fill() takes every free block with a filler file, so that
    writes fail with ENOSPC ("database or disk is full"), as on a real full disk."""

    def __init__(self, data_dir: Path) -> None:
        self.filler = data_dir / "filler"

    def fill(self, pid: int) -> None:
        chunk = b"\0" * (64 * 1024)
        # Unbuffered: a short write takes the last partial chunk, the next one meets ENOSPC.
        with open(self.filler, "wb", buffering=0) as out:
            while True:
                try:
                    out.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return

    def free(self, pid: int) -> None:
        self.filler.unlink()


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m") -> Iterator[bool]:
    """Mount a tmpfs on `path` for the block; yields False (mounting nothing) where mount is not
    permitted (not root, or a container without CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True, timeout=30,
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            # -l: a leftover open file must not leave the mount behind in the temp dir.
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True)
            assert not os.path.ismount(path)
