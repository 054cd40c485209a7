"""Customer.io regions and the App API base URL each one uses."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

# customerio-api.md: "Base URL per region: US https://api.customer.io, EU https://api-eu.customer.io".
REGIONS: dict[str, str] = {
    "us": "https://api.customer.io",
    "eu": "https://api-eu.customer.io",
}


def check_region(region: str) -> str:
    """The region, normalised, or a ValueError that names the valid ones."""
    normalised = region.strip().lower() if isinstance(region, str) else region
    if normalised not in REGIONS:
        raise ValueError(
            f"unknown Customer.io region {region!r}; valid regions: {', '.join(REGIONS)}"
        )
    return normalised


def other_region(region: str) -> str:
    """The region a key from the wrong side of the Atlantic most likely belongs to."""
    region = check_region(region)
    return next(name for name in REGIONS if name != region)


def host(region: str) -> str:
    """The bare host name of the region's App API, as users see it in Customer.io's docs."""
    return urlsplit(REGIONS[check_region(region)]).netloc


def base_url(region: str, api_base_url_override: str | None = None) -> str:
    """The scheme and host that App API paths (`/v1/...`) are appended to.

    The override (the sandbox, a proxy, tests) replaces the region's scheme and host; the region
    is still checked because error messages name it.
    """
    default = REGIONS[check_region(region)]
    if api_base_url_override is None or not api_base_url_override.strip():
        return default
    override = api_base_url_override.strip().rstrip("/")
    parts = urlsplit(override)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"the API base URL must look like https://host[:port], got {api_base_url_override!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"the API base URL must not carry a query or fragment, got {api_base_url_override!r}"
        )
    try:  # what the client will parse: an address it refuses must fail here, with this message
        httpx.URL(override)
    except httpx.InvalidURL as exc:
        raise ValueError(
            f"the API base URL {api_base_url_override!r} is not usable: {exc}"
        ) from None
    return override
