"""The web app's own settings (the public base URL webhook URLs are built from), in the data dir."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from cio_warehouse.state import StateError
from cio_warehouse.webhooks.registration import check_public_url

PUBLIC_BASE_URL = "public_base_url"


def validate_public_base_url(url: str) -> str:
    """An absolute http(s) URL without query or fragment (a proxy's path prefix is kept)."""
    cleaned = url.strip().rstrip("/")
    try:
        parts = urlsplit(cleaned)
        problem = check_public_url(cleaned) or (
            "it must not carry a query, a fragment or spaces"
            if parts.query or parts.fragment or any(c.isspace() for c in cleaned)
            else None
        )
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        raise StateError(
            "The public base URL must be the address Customer.io reaches the receiver on, e.g. "
            f"https://cio.example.com: {problem}."
        )
    return cleaned


class WebSettings:
    def __init__(self, path: Path, receiver_url: Callable[[], str]) -> None:
        self._path = path
        self._receiver_url = receiver_url
        self._lock = threading.Lock()
        # The file as last read, by its identity: the web app's Host check asks on every request.
        self._cache: tuple[tuple[int, int, int], dict[str, object]] | None = None

    def _read(self) -> dict[str, object]:
        try:
            info = self._path.stat()
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = self._cache
            if cached is not None and cached[0] == key:
                return dict(cached[1])
            raw = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise StateError(
                f"{self._path} is not valid JSON: fix it, or delete it to go back to the defaults."
            ) from None
        settings = raw if isinstance(raw, dict) else {}
        self._cache = (key, settings)
        return dict(settings)

    def public_base_url(self) -> str:
        """Where Customer.io reaches the receiver: the setting, else the receiver's own URL."""
        return self.configured_public_base_url() or self._receiver_url()

    def configured_public_base_url(self) -> str | None:
        """The setting alone: None when it is the default."""
        value = self._read().get(PUBLIC_BASE_URL)
        return value if isinstance(value, str) and value else None

    def is_default(self) -> bool:
        return self.configured_public_base_url() is None

    def set_public_base_url(self, url: str | None) -> None:
        """Set it (an absolute http(s) URL; a proxy's path prefix is kept), or None: the default."""
        cleaned = None if url is None or not url.strip() else validate_public_base_url(url)
        with self._lock:
            settings = self._read()
            if cleaned is None:
                settings.pop(PUBLIC_BASE_URL, None)
            else:
                settings[PUBLIC_BASE_URL] = cleaned
            tmp = self._path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(settings, out)
            os.replace(tmp, self._path)
