"""What every benchmark needs: the sandbox and the CLI as real processes, and the machine."""

from __future__ import annotations

import json
import os
import platform
import secrets
import signal
import socket
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


def settle(seconds: float = 10.0) -> None:
    """Start a measurement from a quiet machine: the previous one's dirty pages written back
    (an fsync waits behind the whole disk's writeback: a durable ack measured right after a
    benchmark that wrote and deleted a GB showed p99s of hundreds of ms) and its processes gone."""
    os.sync()
    time.sleep(seconds)


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
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem}, Python {python}, {platform.system()}"


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
        if proc.stdout is not None:
            proc.stdout.close()


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A running `cio-warehouse serve`: its API (with the bearer token) and its receiver."""

    api_url: str
    token: str
    receiver_url: str
    pid: int


@contextmanager
def serve_process(data_dir: Path, timeout: float = 60) -> Iterator[Served]:
    """`cio-warehouse serve` as a user runs it, on free ports; Ctrl-C (SIGINT) at the end."""
    webhook_port = free_port()
    log = data_dir / "serve.log"  # a file, not a pipe: a full pipe would stall the service
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cli(data_dir, "serve", "--port", str(free_port()), "--webhook-port", str(webhook_port)),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    service_file = data_dir / "service.json"
    try:
        deadline = time.monotonic() + timeout
        while not service_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        info = json.loads(service_file.read_text())
        # service.json is published after the receiver printed that it listens.
        yield Served(info["url"], info["token"], f"http://127.0.0.1:{webhook_port}", proc.pid)
    finally:
        # Ctrl-C: serve stops the receiver and loads every acked event; a second Ctrl-C abandons
        # a sync still running (its tables keep their previous rows) instead of waiting for it.
        for _ in range(2):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                pass
        else:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class CpuTimes:
    """One process's threads summed (Linux /proc/PID/task/*/schedstat), in seconds: time on a
    CPU, and time runnable but waiting on the run queue for one."""

    running: float = 0.0
    waiting: float = 0.0

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.running - other.running, self.waiting - other.waiting)


def cpu_times(pid: int) -> CpuTimes:
    running = waiting = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return CpuTimes()
    for task in tasks:
        try:
            run_ns, wait_ns, _ = (task / "schedstat").read_text().split()
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
        running += int(run_ns)
        waiting += int(wait_ns)
    return CpuTimes(running / 1e9, waiting / 1e9)


def pressure(resource: str) -> float | None:
    """Seconds, since boot, during which some task waited for `resource` ("cpu", "io"): Linux
    pressure stall information; None where the kernel has none."""
    try:
        some = Path(f"/proc/pressure/{resource}").read_text().splitlines()[0]
    except OSError:
        return None
    return int(some.rsplit("total=", 1)[1]) / 1e6


@dataclass
class MachineLoad:
    """What else the machine did around a measurement (load average, Linux PSI): the figures of
    a run on a busy machine say so beside them."""

    load_before: float
    pressure_before: dict[str, float | None]
    started: float
    load_after: float = 0.0
    seconds: float = 0.0
    stalled: dict[str, float | None] | None = None  # share of the time some task waited

    def sentence(self) -> str:
        stalled = self.stalled or {}

        def share(resource: str) -> str:
            value = stalled.get(resource)
            return "n/a" if value is None else f"{value:.0%}"

        return (f"load average {self.load_before:.1f} before, {self.load_after:.1f} after; some "
                f"task waited for a CPU {share('cpu')} and for I/O {share('io')} of the "
                f"{self.seconds:.0f} s (Linux PSI).")


@contextmanager
def machine_load() -> Iterator[MachineLoad]:
    """The machine's load over the body, filled in as it ends (an error included)."""
    load = MachineLoad(os.getloadavg()[0], {r: pressure(r) for r in ("cpu", "io")},
                       time.monotonic())
    try:
        yield load
    finally:
        load.seconds = time.monotonic() - load.started
        load.load_after = os.getloadavg()[0]
        load.stalled = {}
        for resource, before in load.pressure_before.items():
            after = pressure(resource)
            load.stalled[resource] = None if before is None or after is None else (
                (after - before) / load.seconds)
