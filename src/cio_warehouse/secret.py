"""A string that never shows itself: not in repr, str, logs, tracebacks or f-strings."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a secret must be a non-empty string")
        self._value = value.strip()

    def reveal(self) -> str:
        """The clear text, for the one place that must send it (an HTTP header, an HMAC key)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("secrets are not picklable")

def mask_url(url: str) -> str:
    """A URL safe for logs and status: its password, and query values that look secret, masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{k}={'***' if _secret_name(k) else v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_holds_secret(url: str) -> bool:
    """Whether mask_url would mask something: a password, or a query value that looks secret."""
    parts = urlsplit(url)
    return parts.password is not None or any(
        _secret_name(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True)
    )


def _secret_name(name: str) -> bool:
    return any(w in name.lower() for w in ("pass", "secret", "key", "token"))
