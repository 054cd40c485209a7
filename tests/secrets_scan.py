"""Looking for secrets in clear text: in files and captured bytes, raw, URL-encoded and base64.

The secrets are App API keys and webhook signing keys (README: "never printed, logged or passed
in argv"; stored encrypted in state.db). A match is reported with the place and a masked form
of the key, never the key itself, so that the report does not leak what it found.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

# Shorter values ("k", "secret") would match by chance in any binary file; every key the tests
# use is longer, and a real Customer.io key is 32+ characters.
MIN_SECRET_LENGTH = 10
_CHUNK = 64 << 20  # files are read in chunks (overlapping by the longest needle)


@dataclass(frozen=True)
class Finding:
    where: str  # a file path, or the label of captured bytes
    secret: str  # masked
    form: str  # raw, url, base64

    def __str__(self) -> str:
        return f"{self.where}: {self.secret} ({self.form})"


def mask(secret: str) -> str:
    return f"{secret[:4]}...{secret[-2:]} ({len(secret)} chars)"


def _base64_forms(raw: bytes) -> Iterator[bytes]:
    """The part of base64 text that spells `raw` wherever it starts in the encoded stream:
    three alignments, without the characters shared with the bytes around it."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).rstrip(b"=")
        start = (0, 2, 3)[offset]  # characters that also encode the bytes before
        end = len(encoded) - (0 if (offset + len(raw)) % 3 == 0 else 2)
        core = encoded[start:end]
        yield core
        yield core.replace(b"+", b"-").replace(b"/", b"_")  # the URL-safe alphabet


def needles(secret: str) -> dict[bytes, str]:
    """Each byte string that reveals `secret`, and the name of its form."""
    raw = secret.encode()
    found = {raw: "raw"}
    for encoded in (quote(secret, safe=""), quote_plus(secret)):
        found.setdefault(encoded.encode(), "url-encoded")
    for encoded_bytes in _base64_forms(raw):
        found.setdefault(encoded_bytes, "base64")
    return found


class Scanner:
    """Finds any of many secrets, or text of a secret's well-known shape (`patterns`), in many
    files; `scanned_files` and `scanned_bytes` say how much was read."""

    def __init__(self, secrets: Iterable[str], patterns: Iterable[re.Pattern[bytes]] = ()
                 ) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH})
        self.patterns = tuple(patterns)
        self._needles = {
            needle: (secret, form)
            for secret in self.secrets
            for needle, form in needles(secret).items()
        }
        self._overlap = max((len(n) for n in self._needles), default=1) - 1
        self.scanned_files = 0
        self.scanned_bytes = 0

    def scan_bytes(self, data: bytes, where: str) -> list[Finding]:
        self.scanned_bytes += len(data)
        found = [
            Finding(where, mask(secret), form)
            for needle, (secret, form) in self._needles.items()
            if needle in data
        ]
        for pattern in self.patterns:
            found += [Finding(where, mask(m.group().decode()), f"shape {pattern.pattern!r}")
                      for m in pattern.finditer(data)]
        return found

    def scan_file(self, path: Path) -> list[Finding]:
        self.scanned_files += 1
        found: dict[tuple[str, str], Finding] = {}
        try:
            with path.open("rb") as source:
                tail = b""
                while chunk := source.read(_CHUNK):
                    for finding in self.scan_bytes(tail + chunk, str(path)):
                        found[(finding.secret, finding.form)] = finding
                    tail = chunk[-self._overlap:] if self._overlap else b""
        except OSError:
            pass  # gone, or not readable (a socket, a dangling link): nothing to leak from
        return list(found.values())

    def scan_tree(self, root: Path, skip: Iterable[Path] = ()) -> list[Finding]:
        skipped = {p.resolve() for p in skip}
        findings = []
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.resolve() not in skipped:
                findings += self.scan_file(path)
        return findings
