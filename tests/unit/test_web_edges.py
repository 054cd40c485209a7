"""The pieces behind the web app's edges: which Host names it answers to, and the failed-login
window (with a clock of its own, so that no test waits a minute)."""

from __future__ import annotations

import pytest

from cio_warehouse.state import StateError
from cio_warehouse.web.hosts import AllowedHosts, parse_allowed_hosts
from cio_warehouse.web.throttle import LoginThrottle

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def test_the_bind_host_loopback_names_and_the_named_ones() -> None:
    assert AllowedHosts("127.0.0.1", (), lambda: None).current() == LOOPBACK
    # Bound to every interface: the hosts the user names, and 0.0.0.0 (the CLI's URL in
    # service.json names it); never any name at all.
    exposed = AllowedHosts("0.0.0.0", ("cio.example.com",), lambda: None).current()
    assert exposed == (*LOOPBACK, "0.0.0.0", "cio.example.com")
    assert AllowedHosts("::", (), lambda: None).current() == (*LOOPBACK, "[::]")
    assert AllowedHosts("10.0.0.5", (), lambda: None).current() == (*LOOPBACK, "10.0.0.5")


def test_the_public_base_url_is_read_at_each_call() -> None:
    url: list[str | None] = [None]
    hosts = AllowedHosts("127.0.0.1", (), lambda: url[0])
    assert hosts.current() == LOOPBACK
    url[0] = "https://CIO.example.com:8443/proxy"
    assert hosts.current() == (*LOOPBACK, "cio.example.com")
    url[0] = "http://[2001:db8::1]/"
    assert hosts.current()[-1] == "[2001:db8::1]"

    def unreadable() -> str:
        raise StateError("web_settings.json is not valid JSON")

    assert AllowedHosts("127.0.0.1", (), unreadable).current() == LOOPBACK


def test_allowed_hosts_from_the_option_and_the_environment() -> None:
    assert parse_allowed_hosts(["cio.example.com", "A.example.com, *.corp.example  10.0.0.5",
                                "::1", "", "cio.example.com"]) == (
        "cio.example.com", "a.example.com", "*.corp.example", "10.0.0.5", "[::1]")
    assert parse_allowed_hosts(["*"]) == ("*",)


@pytest.mark.parametrize("bad", ["https://cio.example.com", "cio.example.com:443",
                                 "cio.*.example", "*example.com", "a/b", "-a.example"])
def test_a_value_that_is_no_host_name_is_refused_in_one_sentence(bad: str) -> None:
    with pytest.raises(StateError, match="without scheme or port") as refused:
        parse_allowed_hosts([bad])
    assert repr(bad) in str(refused.value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_failures_in_the_window_then_a_wait_until_the_oldest_leaves_it() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(9):
        throttle.failed("a")
        clock.now += 1
    assert throttle.retry_after("a") is None
    throttle.failed("a")  # the 10th, 9 s after the first
    assert throttle.retry_after("a") == pytest.approx(51.0)
    assert throttle.retry_after("b") is None  # another client
    clock.now += 51
    assert throttle.retry_after("a") is None  # the first failure has left the window
    throttle.failed("a")  # 10 in the window again (the second to the eleventh)
    assert throttle.retry_after("a") == pytest.approx(1.0)


def test_clients_without_a_recent_failure_are_forgotten_and_the_count_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=2, clock=clock, max_clients=3)
    for client in ("a", "b", "c", "d"):
        throttle.failed(client)
        throttle.failed(client)
    assert throttle.retry_after("a") is None  # the least recent, past max_clients
    assert all(throttle.retry_after(c) is not None for c in ("b", "c", "d"))
    clock.now += 61
    throttle.failed("e")
    assert list(throttle._failures) == ["e"]
