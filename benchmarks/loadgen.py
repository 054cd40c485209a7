"""Load generators for the webhook benchmark: wrk (closed loop) and an open-loop asyncio client."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import uvloop

# A request file holds one delivery per line: X-CIO-Timestamp, X-CIO-Signature and the raw body,
# tab-separated (orjson never writes a raw tab or newline inside a JSON document).


def sign(key: str, timestamp: str, body: bytes) -> str:
    """Customer.io's signature: lowercase hex HMAC-SHA256 of `v0:` + timestamp + `:` + body."""
    return hmac.new(key.encode(), b"v0:" + timestamp.encode() + b":" + body,
                    hashlib.sha256).hexdigest()


def write_requests(path: Path, bodies: Sequence[bytes], key: str) -> Path:
    """Sign every body with the current time: the receiver accepts timestamps within 300 s, so
    this runs just before the load that sends them."""
    timestamp = str(int(time.time()))
    with path.open("wb") as out:
        for body in bodies:
            out.write(f"{timestamp}\t{sign(key, timestamp, body)}\t".encode() + body + b"\n")
    return path


def read_requests(path: Path, url: str) -> list[bytes]:
    """Every line of a request file as the raw bytes of one HTTP/1.1 keep-alive POST."""
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode()
    raw = []
    for line in path.read_bytes().splitlines():
        timestamp, signature, body = line.split(b"\t", 2)
        raw.append(head + b"Content-Type: application/json\r\nX-CIO-Timestamp: " + timestamp
                   + b"\r\nX-CIO-Signature: " + signature + b"\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
    return raw


# -- closed loop: wrk ---------------------------------------------------------------------------

# Each wrk thread reads its own request file (PREFIX.<thread number>) so that no event is sent
# twice; a thread that runs out starts over and counts a wrap (its events are then duplicates).
_WRK_LUA = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for line in io.lines(args[1] .. "." .. id) do
    local ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["X-CIO-Timestamp"] = ts,
      ["X-CIO-Signature"] = sig,
    }, body)
  end
  i = 0
  wraps = 0
end

function request()
  i = i + 1
  if i > #reqs then
    i = 1
    wraps = wraps + 1
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + t:get("wraps")
  end
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"wraps":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, w))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured; latencies in milliseconds."""

    ok: int  # 2xx answers
    failed: int  # anything else: non-2xx, connection errors, timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    duplicates_sent: int = 0  # requests beyond the unique pool (wrk wrapped around)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, prefix: Path, *, threads: int, connections: int, seconds: float
) -> LoadResult:
    """wrk against `url`, thread n sending the requests of `prefix`.n in order."""
    script = prefix.with_suffix(".lua")
    script.write_text(_WRK_LUA)
    proc = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
         "--timeout", "10s", "-s", str(script), url, "--", str(prefix)],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if proc.returncode != 0 or not marker:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-1000:]}"
                           f"{proc.stderr[-1000:]}")
    r = json.loads(marker[0].removeprefix("WRK_JSON "))
    failed = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return LoadResult(
        ok=r["requests"] - r["status"], failed=failed, seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1e3, p99_ms=r["p99_us"] / 1e3, max_ms=r["max_us"] / 1e3,
        duplicates_sent=r["wraps"],
    )


# -- open loop: fixed offered rate ----------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight; answers parsed just enough to know the
    status and where the body ends (Content-Length: uvicorn sends it on every reply)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        # Small requests must leave at once: Nagle would hold one back behind an unacked one.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(int(head[0].split(" ", 2)[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    async def send(self, request: bytes) -> int:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = self.loop.create_future()
        self.transport.write(request)
        return await self.waiter


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def open_loop(
    url: str, requests: Sequence[bytes], rate: float, connections: int
) -> dict[str, object]:
    """Request i is due at start + i / rate whatever happened before it (open loop); its latency
    runs from that due time, so a stall counts against every request it delayed (no coordinated
    omission). `lag` is how late the client itself sent: its own share of the latency."""
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    pool = []
    for _ in range(connections):
        _, conn = await loop.create_connection(
            lambda: _Connection(loop), parts.hostname or "127.0.0.1", parts.port or 80
        )
        pool.append(conn)
    n = len(requests)
    latency = [math.nan] * n
    lag = [math.nan] * n
    acked_at = [math.nan] * n  # time.monotonic(): one clock for every process on the machine
    statuses = [0] * n
    counter = iter(range(n))
    start = time.monotonic() + 0.05
    # Bounded however slow the server is: past this, requests not yet sent count as failed.
    give_up = start + 3 * n / rate + 10

    async def worker(conn: _Connection) -> None:
        # Each worker takes the next due request; with enough connections one slow answer never
        # delays the requests behind it, and when all are busy the wait shows in the latency.
        for i in counter:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                # Only a worker that was free in time measures the client's own lateness (timer
                # granularity, waiting for a CPU); a late start behind busy connections is the
                # server's doing and already counts in the latency.
                lag[i] = time.monotonic() - due
            elif time.monotonic() > give_up:
                return
            try:
                statuses[i] = await conn.send(requests[i])
            except ConnectionError as exc:
                print(f"request {i}: {exc}", file=sys.stderr)
                statuses[i] = -1
                return
            done = time.monotonic()
            latency[i] = done - due
            if 200 <= statuses[i] < 300:
                acked_at[i] = done

    await asyncio.gather(*(worker(conn) for conn in pool))
    seconds = time.monotonic() - start
    for conn in pool:
        if conn.transport is not None:
            conn.transport.close()
    ok = [latency[i] * 1e3 for i in range(n) if 200 <= statuses[i] < 300]
    ok.sort()
    lags = sorted(x * 1e3 for x in lag if not math.isnan(x))
    return {
        "ok": len(ok), "failed": n - len(ok), "seconds": seconds,
        "p50_ms": _percentile(ok, 50), "p99_ms": _percentile(ok, 99),
        "max_ms": ok[-1] if ok else math.nan,
        "lag_p99_ms": _percentile(lags, 99), "acked_at": acked_at,
    }


def run_open_loop(
    url: str, requests_file: Path, *, rate: float, connections: int = 64
) -> dict[str, object]:
    """The open-loop client in its own process (so that its work never shares our GIL)."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen", url, str(requests_file),
         "--rate", str(rate), "--connections", str(connections)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed: {proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def open_loop_result(raw: dict[str, object]) -> LoadResult:
    def num(key: str) -> float:
        value = raw[key]
        assert isinstance(value, int | float)
        return float(value)

    return LoadResult(ok=int(num("ok")), failed=int(num("failed")), seconds=num("seconds"),
                      p50_ms=num("p50_ms"), p99_ms=num("p99_ms"), max_ms=num("max_ms"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Open-loop HTTP/1.1 load at a fixed rate.")
    parser.add_argument("url")
    parser.add_argument("requests", type=Path, help="a request file (see write_requests)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    requests = read_requests(args.requests, args.url)
    # uvloop, as the servers use: the client's own overhead stays small beside theirs.
    result = uvloop.run(open_loop(args.url, requests, args.rate, args.connections))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
