"""Regions and base URLs: US and EU hosts, the override for the sandbox, proxies and tests."""

from __future__ import annotations

import httpx
import pytest
from cio_fakes import Script, json_response, make_client

from cio_warehouse.customerio import regions

pytestmark = pytest.mark.timeout(10)


def test_regions_map_to_the_documented_hosts() -> None:
    assert regions.base_url("us") == "https://api.customer.io"
    assert regions.base_url("eu") == "https://api-eu.customer.io"
    assert regions.base_url("EU") == "https://api-eu.customer.io"
    assert regions.other_region("us") == "eu"
    assert regions.other_region("eu") == "us"


def test_unknown_region_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown Customer.io region 'de'.*us, eu"):
        regions.base_url("de")


def test_override_replaces_scheme_and_host() -> None:
    assert regions.base_url("us", "http://127.0.0.1:8123/") == "http://127.0.0.1:8123"
    assert regions.base_url("eu", None) == "https://api-eu.customer.io"
    assert regions.base_url("eu", "  ") == "https://api-eu.customer.io"


@pytest.mark.parametrize("bad", ["127.0.0.1:8123", "ftp://host", "http://", "http://h/?a=1"])
def test_bad_override_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="API base URL"):
        regions.base_url("us", bad)


@pytest.mark.parametrize(
    ("region", "override", "expected"),
    [
        ("us", None, "https://api.customer.io/v1/workspaces"),
        ("eu", None, "https://api-eu.customer.io/v1/workspaces"),
        ("eu", "http://127.0.0.1:8123", "http://127.0.0.1:8123/v1/workspaces"),
        ("us", "http://proxy.local/cio/", "http://proxy.local/cio/v1/workspaces"),
    ],
)
def test_client_sends_paths_under_the_base_url(
    region: str, override: str | None, expected: str
) -> None:
    script = Script(json_response({"workspaces": []}))
    with make_client(script, region=region, api_base_url=override) as client:
        client.check_key()
    assert str(script.requests[0].url) == expected


def test_client_refuses_unknown_region() -> None:
    with pytest.raises(ValueError, match="valid regions: us, eu"):
        make_client(Script(), region="asia")


def test_client_needs_a_secret() -> None:
    with pytest.raises(TypeError, match="Secret"):
        make_client_with_plain_key()


def make_client_with_plain_key() -> None:
    from cio_warehouse.customerio import AppAPIClient

    AppAPIClient("plain-text-key", transport=httpx.MockTransport(Script()))  # type: ignore[arg-type]
