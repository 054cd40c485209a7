"""Secrets at rest: Fernet with a key from $CIO_WAREHOUSE_SECRET_KEY or a 0600 key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cio_warehouse.secret import Secret
from cio_warehouse.state.errors import StateError

ENV_SECRET_KEY = "CIO_WAREHOUSE_SECRET_KEY"  # noqa: S105  (a variable name, not a secret)


def open_secret_box(key_file: Path, sealed: bytes | None, start_over: str) -> SecretBox:
    """The box of a data dir whose state holds `sealed` (one of its secrets; None: none yet).

    The env key wins (for deployments with a secret manager); else the key file, created only
    while no secret is sealed: a new key next to sealed secrets would make every one of them
    unreadable, the silent loss of every stored key. So a missing, invalid or other key is an
    error that says what to restore, or `start_over` (how to drop the state instead).
    """
    from_env = os.environ.get(ENV_SECRET_KEY)
    origin = f"${ENV_SECRET_KEY}" if from_env else str(key_file)
    key = from_env.encode() if from_env else read_key_file(key_file)
    if key is None:
        if sealed is not None:
            raise StateError(
                f"The secret key file {key_file} is missing, and the App API and signing "
                "keys stored in this data dir cannot be decrypted without it: restore it "
                f"from a backup (or set ${ENV_SECRET_KEY} to its content), or, {start_over}; "
                "no new key was created."
            )
        key = _create_key_file(key_file)
    if not _valid(key):
        if sealed is not None:
            fix = f"restore the original key, or, {start_over}"
        elif from_env:
            fix = "set it to the key the data dir's secrets are to be encrypted with"
        else:
            fix = "remove the file: this data dir holds no secret yet, so a new key is created"
        raise StateError(
            f"{origin} does not hold a valid secret key (44 characters of URL-safe base64, as "
            f"cio-warehouse writes it): {fix}."
        )
    box = SecretBox(key)
    if sealed is not None and not box.opens(sealed):
        if not from_env:
            fix = f"put the original secret.key back (or set ${ENV_SECRET_KEY} to it)"
        elif _opens(key_file, sealed):
            fix = f"unset it to use {key_file}, which does"
        else:
            fix = "set it to that key"
        raise StateError(
            f"{origin} is not the key this data dir's secrets were encrypted with, so they "
            f"cannot be decrypted: {fix}, or, {start_over}."
        )
    return box


def _valid(key: bytes) -> bool:
    try:
        Fernet(key)
    except ValueError:
        return False
    return True


def _opens(key_file: Path, sealed: bytes) -> bool:
    """Whether the key file (if any, valid and readable) decrypts `sealed`."""
    try:
        key = read_key_file(key_file)
    except StateError:
        return False
    return key is not None and _valid(key) and SecretBox(key).opens(sealed)


def load_or_create_key(key_file: Path) -> bytes:
    """The env key, else the key file, created if missing (for a store that holds no secret)."""
    from_env = os.environ.get(ENV_SECRET_KEY)
    if from_env:
        return from_env.encode()
    key = read_key_file(key_file)
    return _create_key_file(key_file) if key is None else key


def read_key_file(key_file: Path) -> bytes | None:
    """The key file's key; None when there is none. A key file others may read is refused, as
    ssh refuses such a private key: whoever reads it can decrypt every stored App API key."""
    try:
        mode = stat.S_IMODE(key_file.stat().st_mode)
        if mode & 0o077 and key_file.is_file():
            raise StateError(
                f"The secret key file {key_file} can be read by other users (mode {mode:04o}): "
                f"make it private with `chmod 600 {key_file}` and run the command again."
            )
        return key_file.read_bytes().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(
            f"The secret key file {key_file} cannot be read ({exc.strerror}): it must be a file "
            "that the user running cio-warehouse can read."
        ) from None


def _create_key_file(key_file: Path) -> bytes:
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not write two different keys.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(key_file) or key
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise StateError(
                f"The secret key (${ENV_SECRET_KEY} or secret.key in the data dir) is not a valid "
                "key: restore the original one."
            ) from None

    def opens(self, token: bytes) -> bool:
        """Whether this key decrypts `token` (a secret sealed by encrypt())."""
        try:
            self._fernet.decrypt(token)
        except InvalidToken:
            return False
        return True

    def encrypt(self, secret: Secret) -> bytes:
        return self._fernet.encrypt(secret.reveal().encode())

    def decrypt(self, token: bytes) -> Secret:
        try:
            return Secret(self._fernet.decrypt(token).decode())
        except InvalidToken:
            raise StateError(
                "A stored secret cannot be decrypted with this data dir's secret key: restore the "
                f"original secret.key (or ${ENV_SECRET_KEY}), or add the source again."
            ) from None
