"""What every benchmark needs: the sandbox and the CLI as real processes, and the machine."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = BIN / "cio-warehouse"
KEY_ENV = "CIO_BENCH_SANDBOX_KEY"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except OSError:
        mem = "unknown memory"
    return f"{os.cpu_count()} cores ({cpu}), {mem}, Python {platform.python_version()}, {platform.system()}"


@dataclass
class Sandbox:
    url: str
    key: str


@contextmanager
def sandbox_process(*args: str) -> Iterator[Sandbox]:
    """`python -m cio_warehouse.sandbox ARGS` in its own process, so it costs the sync nothing."""
    key = "bench_" + secrets.token_hex(16)
    env = {**os.environ, KEY_ENV: key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--api-key-env", KEY_ENV, *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield Sandbox(json.loads(line)["url"], key)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class Timed:
    seconds: float
    max_rss_mib: float
    returncode: int


def run_timed(args: list[str], env: dict[str, str] | None = None) -> Timed:
    """Wall time and peak RSS (ru_maxrss of this very child, via wait4) of one command."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        raise RuntimeError(f"{args[:4]} failed: {proc.stderr.read().decode()[-2000:]}")
    return Timed(seconds, usage.ru_maxrss / 1024, proc.returncode)


def cli(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    return [str(CLI), "--data-dir", str(data_dir), *args]


def fresh_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="cio-bench-"))
