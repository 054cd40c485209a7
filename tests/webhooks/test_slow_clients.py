"""Slow and hostile clients against the real receiver process: half-open connections do not stop
a delivery, a request stalled in its head or body is closed, places past the bound get 503."""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from cio_warehouse.state import DataDir
from cio_warehouse.webhooks.receiver import ReceiverSettings
from tests.helpers import CLI, wait_until
from tests.webhooks.conftest import (
    SOURCE,
    ReceiverProcess,
    event_body,
    read_inbox,
    signed_headers,
)

pytestmark = pytest.mark.timeout(120)

HALF_OPEN = 500
WAIT_SECONDS = 30.0  # generous: the deadlines under test are 1 s
PATH = f"/webhooks/customerio/{SOURCE}".encode()


@pytest.fixture
def start(data_dir_with_source: DataDir) -> Iterator[Callable[..., ReceiverProcess]]:
    started: list[ReceiverProcess] = []

    def start_process(*args: str, cli: bool = False) -> ReceiverProcess:
        process = ReceiverProcess(data_dir_with_source, *args)
        if cli:  # `cio-warehouse receive`, instead of the module `serve` runs
            process.args = [str(CLI), "--data-dir", str(data_dir_with_source.root), "receive",
                            *process.args[process.args.index("--host"):]]
        started.append(process)
        return process.start()

    yield start_process
    for process in started:
        process.kill()


@pytest.fixture
def open_files() -> None:
    """This process holds HALF_OPEN sockets at once: lift a low soft limit, as the receiver
    does for itself."""
    needed = HALF_OPEN + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"this test opens {needed} files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def head(*, content_length: int, extra: bytes = b"") -> bytes:
    return (b"POST " + PATH + b" HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % content_length)


def connect(process: ReceiverProcess, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", process.port), timeout=10)
    if data:
        sock.sendall(data)
    sock.settimeout(None)  # blocking, so that MSG_DONTWAIT, not a timeout, decides a read
    return sock


def is_open(sock: socket.socket) -> bool:
    """Still open and unanswered: nothing to read yet, no EOF."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:  # reset by the server
        return False


def closed_by_server(sock: socket.socket) -> bool:
    """EOF or a reset, after whatever answer the server wrote before closing."""
    try:
        while data := sock.recv(65536, socket.MSG_DONTWAIT):
            del data
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def wait_closed(socks: dict[str, socket.socket],
                trickle: dict[str, bytes] | None = None) -> set[str]:
    """The names the server closed within WAIT_SECONDS; `trickle` sends its byte every 0.2 s."""
    trickle = trickle or {}
    closed: set[str] = set()
    deadline = time.monotonic() + WAIT_SECONDS
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for name, sock in socks.items():
            if name in closed:
                continue
            if closed_by_server(sock):
                closed.add(name)
            elif name in trickle:
                try:
                    sock.send(trickle[name])
                except OSError:
                    closed.add(name)
        time.sleep(0.2)
    return closed


def deliver(process: ReceiverProcess, **headers: str) -> tuple[httpx.Response, str]:
    body = event_body()
    event_id = body.split(b'"event_id": "')[1].split(b'"')[0].decode()
    reply = httpx.post(process.endpoint(), content=body,
                       headers={**signed_headers(body), **headers}, timeout=10)
    return reply, event_id


def stored(data_dir: DataDir) -> set[str]:
    return {event.event_id for event in read_inbox(data_dir).events}


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_500_half_open_connections_do_not_stop_a_delivery(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir, open_files: None
) -> None:
    # The default bound on connections; deadlines long enough that every half-open connection
    # is certainly still open when the delivery comes (checked after it).
    process = start("--header-timeout", "60", "--body-timeout", "60")
    full = event_body()
    partial = head(content_length=len(full))
    socks: list[socket.socket] = []
    bodies: list[socket.socket] = []
    try:
        for n in range(HALF_OPEN):
            if n % 3 == 0:
                socks.append(connect(process))  # no bytes at all
            elif n % 3 == 1:
                socks.append(connect(process, partial[: len(partial) // 2]))  # half the head
            else:  # the whole head, then the body a byte at a time
                bodies.append(connect(process, partial + full[:1]))
                socks.append(bodies[-1])
        for i in range(1, 4):
            for sock in bodies:
                sock.sendall(full[i:i + 1])

        reply, event_id = deliver(process)

        assert reply.status_code == 200, reply.text
        assert reply.json()["result"] == "stored"
        assert event_id in stored(data_dir_with_source)
        still_open = sum(is_open(sock) for sock in socks)
        assert still_open == HALF_OPEN  # so they were all there beside the delivery
    finally:
        close_all(socks)
    assert "concurrency limit" not in process.stderr
    assert "Traceback" not in process.stderr


def test_a_request_stalled_in_its_head_or_body_is_closed(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir
) -> None:
    process = start("--header-timeout", "1", "--body-timeout", "1", cli=True)
    full = event_body()
    partial = head(content_length=len(full))

    kept_alive = connect(process)  # a whole request, answered, then blank lines
    body = event_body()
    headers = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items()).encode()
    kept_alive.sendall(head(content_length=len(body), extra=headers) + body)
    answer = b""
    while b'"stored"' not in answer:
        answer += kept_alive.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")

    socks = {
        "silent": connect(process),
        "half head": connect(process, partial[:30]),
        "head trickled": connect(process, partial[:5]),
        "half body": connect(process, partial + full[: len(full) // 2]),
        "body trickled": connect(process, partial + full[:1]),
        "kept alive, blank lines": kept_alive,
    }
    # Each byte would restart a deadline counted from the last one (or uvicorn's keep-alive
    # timer): these are closed only because the deadline counts from the request's start.
    trickle = {"head trickled": b"X", "body trickled": b" ", "kept alive, blank lines": b"\r\n"}
    try:
        closed = wait_closed(socks, trickle)
    finally:
        close_all(list(socks.values()))
    assert closed == set(socks)

    reply, event_id = deliver(process)  # and the receiver goes on
    assert reply.status_code == 200 and event_id in stored(data_dir_with_source)
    assert "Traceback" not in process.stderr


def test_the_deadlines_are_per_request_so_a_kept_alive_stream_goes_on(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir
) -> None:
    """Customer.io keeps its connections alive: requests on one connection, each within the
    deadlines (in two parts, 1 s apart), with pauses between them shorter and longer than a
    deadline (but not than uvicorn's 5 s keep-alive), are all answered on that connection."""
    process = start("--header-timeout", "2", "--body-timeout", "2")
    sock = connect(process)
    sock.settimeout(10)
    acked: list[str] = []
    try:
        for pause in (0.5, 3.0, 0):
            body = event_body()
            headers = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items())
            request = head(content_length=len(body), extra=headers.encode()) + body
            sock.sendall(request[:len(request) // 2])
            time.sleep(1.0)
            sock.sendall(request[len(request) // 2:])
            answer = b""
            while b'"result"' not in answer:
                chunk = sock.recv(4096)
                assert chunk, f"the receiver closed the connection after {len(acked)} requests"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            acked.append(body.split(b'"event_id": "')[1].split(b'"')[0].decode())
            time.sleep(pause)
    finally:
        sock.close()
    assert len(acked) == 3 and set(acked) <= stored(data_dir_with_source)


def test_a_body_deadline_shorter_than_the_head_one_holds(
    start: Callable[..., ReceiverProcess]
) -> None:
    process = start("--header-timeout", "60", "--body-timeout", "1")
    full = event_body()
    sock = connect(process, head(content_length=len(full)) + full[:10])
    try:
        assert wait_closed({"half body": sock}) == {"half body"}
    finally:
        sock.close()


def test_past_max_connections_a_delivery_is_answered_503(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir
) -> None:
    process = start("--max-connections", "20", "--header-timeout", "60")
    socks = [connect(process) for _ in range(25)]
    try:
        reply, event_id = deliver(process)
        assert reply.status_code == 503  # Customer.io retries it
        assert event_id not in stored(data_dir_with_source)
    finally:
        close_all(socks)
    assert wait_for_ack(process)


def test_the_head_deadline_frees_the_places_silent_connections_held(
    start: Callable[..., ReceiverProcess]
) -> None:
    process = start("--max-connections", "20", "--header-timeout", "1")
    socks = {f"silent {n}": connect(process) for n in range(25)}
    try:
        assert wait_closed(socks) == set(socks)
    finally:
        close_all(list(socks.values()))
    assert wait_for_ack(process)


def wait_for_ack(process: ReceiverProcess) -> bool:
    """A delivery is acked once the closed connections have left the server's count (closing
    takes the event loop a moment): retried on 503 as Customer.io does."""
    def acked() -> bool:
        reply, _ = deliver(process)
        if reply.status_code == 200:
            return True
        assert reply.status_code == 503
        return False

    return wait_until(acked, "a delivery to be acked", WAIT_SECONDS, interval=0.1)


def test_a_head_still_incomplete_past_its_cap_is_refused_with_431(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir
) -> None:
    process = start()
    limit = ReceiverSettings.max_incomplete_head_bytes
    reply, event_id = deliver(process, **{"X-Padding": "a" * (limit - 2048)})
    assert reply.status_code == 200 and event_id in stored(data_dir_with_source)

    sock = connect(process, head(content_length=10, extra=b"X-Padding: " + b"a" * limit)[:-20])
    sock.settimeout(10)
    try:
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_the_open_files_limit_is_raised_for_max_connections(
    start: Callable[..., ReceiverProcess], data_dir_with_source: DataDir
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = ReceiverSettings.max_connections + 64
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard limit on open files is {hard}")
    process = ReceiverProcess(data_dir_with_source)
    process.args[:0] = ["prlimit", f"--nofile=256:{hard}"]  # exec's the receiver: same pid
    try:
        process.start()
        assert process.proc is not None
        limits = Path(f"/proc/{process.proc.pid}/limits").read_text()
    finally:
        process.kill()
    soft = int(next(line for line in limits.splitlines()
                    if line.startswith("Max open files")).split()[3])
    assert soft >= needed


def test_uvicorn_has_still_no_head_deadline_of_its_own() -> None:
    """http_protocol.py adds one. When this fails, uvicorn closes silent connections itself
    (its newer zttp protocol does, after timeout_keep_alive): use that and drop ours."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        pass

    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="uvloop", http="httptools",
                            lifespan="off", log_config=None, log_level="warning",
                            timeout_keep_alive=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        def started() -> bool:
            assert thread.is_alive()
            return server.started

        wait_until(started, "uvicorn to start", 20, interval=0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as silent:
            time.sleep(3 * config.timeout_keep_alive)
            assert is_open(silent)
    finally:
        server.should_exit = True
        thread.join(10)
