"""Secrets at rest: Fernet with a key from $CIO_WAREHOUSE_SECRET_KEY or a 0600 key file."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cio_warehouse.secret import Secret
from cio_warehouse.state.errors import StateError

ENV_SECRET_KEY = "CIO_WAREHOUSE_SECRET_KEY"  # noqa: S105  (a variable name, not a secret)


def load_or_create_key(key_file: Path) -> bytes:
    """The env key wins (for deployments with a secret manager); else the file, created once."""
    from_env = os.environ.get(ENV_SECRET_KEY)
    if from_env:
        return from_env.encode()
    try:
        return key_file.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not write two different keys.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_bytes().strip()
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
                "Fernet key: restore the original key, or remove the sources and add them again."
            ) from None

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
