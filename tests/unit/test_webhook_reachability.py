"""Which webhook URLs Customer.io, on the internet, cannot reach: judged from the host alone."""

from __future__ import annotations

import pytest

from cio_warehouse.webhooks.registration import Registration, unreachable_reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8788", "127.0.0.1 is this machine (a loopback address)"),
        ("http://[::1]:8788", "::1 is this machine (a loopback address)"),
        ("http://localhost:8788", "localhost is this machine (a loopback name)"),
        ("http://cio.localhost", "cio.localhost is this machine (a loopback name)"),
        ("http://10.1.2.3", "10.1.2.3 is a private network address"),
        ("https://192.168.1.5:8443", "192.168.1.5 is a private network address"),
        ("http://172.16.0.9", "172.16.0.9 is a private network address"),
        ("http://100.64.0.1", "100.64.0.1 is not a public internet address"),
        ("http://receiver:8788", "receiver is a name without a domain"),
        ("https://cio.example.com", None),
        ("http://8.8.8.8:8788", None),
    ],
)
def test_unreachable_reason(url: str, reason: str | None) -> None:
    assert unreachable_reason(url) == reason


def test_a_registration_to_loopback_says_deliveries_will_not_arrive() -> None:
    outcome = Registration("http://127.0.0.1:8788/webhooks/customerio/acme", ["email_sent"])
    assert outcome.unreachable is not None
    assert outcome.unreachable.startswith(
        "Customer.io cannot reach http://127.0.0.1:8788/webhooks/customerio/acme: 127.0.0.1 is "
        "this machine"
    )
    public = Registration("https://cio.example.com/webhooks/customerio/acme", ["email_sent"])
    assert public.unreachable is None
