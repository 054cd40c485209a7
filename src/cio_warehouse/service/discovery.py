"""How the CLI finds a running service: `service.json` in the data dir, private to its owner."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import httpx

from cio_warehouse.state import DataDir

BUSY_SERVICE_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class ServiceInfo:
    pid: int
    url: str  # the API base URL, on loopback unless told otherwise
    token: str  # bearer token for the CLI, readable only by the data dir's owner


def publish(data_dir: DataDir, info: ServiceInfo) -> None:
    tmp = data_dir.service_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(info), out)
    os.replace(tmp, data_dir.service_file)


def withdraw(data_dir: DataDir, pid: int) -> None:
    info = _read(data_dir)
    if info is not None and info.pid == pid:
        data_dir.service_file.unlink(missing_ok=True)


def find_running(data_dir: DataDir) -> ServiceInfo | None:
    """The running service, or None when none answers (a stale file is ignored)."""
    info = _read(data_dir)
    if info is None:
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    # A live service that is slow to answer (a large load holding the CPU) is waited for: the
    # command would otherwise run beside it and find the warehouse file locked.
    deadline = time.monotonic() + BUSY_SERVICE_WAIT_SECONDS
    while True:
        try:
            response = httpx.get(
                f"{info.url}/api/v1/health",
                headers={"Authorization": f"Bearer {info.token}"},
                timeout=2.0,
            )
        except httpx.TimeoutException:
            if time.monotonic() < deadline:
                continue
            return None
        except httpx.HTTPError:  # nothing listens there: a stale file
            return None
        return info if response.status_code == 200 else None


def _read(data_dir: DataDir) -> ServiceInfo | None:
    try:
        raw = json.loads(data_dir.service_file.read_text())
        return ServiceInfo(pid=int(raw["pid"]), url=str(raw["url"]), token=str(raw["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
