"""Secrets sealed at rest: access-key secrets and webhook signing secrets are stored encrypted.

A secret is sealed with AES-256-GCM under the server's master key, bound to what it belongs
to (``purpose``, e.g. ``"access-key:AKIA..."``) as associated data, so a sealed value copied
into another row does not open there. The master key comes from ``TIDINGS_MASTER_KEY``
(32 bytes, base64) when set, else from ``<data dir>/master.key``, made on first use with mode
0600. Whoever holds the database without the key learns no secret; whoever holds both does.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tidings.domain.errors import TidingsError

MASTER_KEY_ENV = "TIDINGS_MASTER_KEY"
MASTER_KEY_FILE = "master.key"
PREFIX = "v1:"
NONCE_BYTES = 12


class Sealer:
    """Seals and opens secrets with one master key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, secret: str, purpose: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), purpose.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, purpose: str) -> str:
        if not is_sealed(sealed):
            raise ValueError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX):])
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
        except InvalidTag:
            raise TidingsError(
                f"a stored secret does not open with this server's master key; start the server "
                f"with the {MASTER_KEY_ENV} or {MASTER_KEY_FILE} it was sealed with"
            ) from None


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def load_sealer(data_dir: str | os.PathLike[str]) -> Sealer:
    """The sealer of the server whose data dir is ``data_dir`` (see the module's docstring)."""
    configured = os.environ.get(MASTER_KEY_ENV)
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise TidingsError(
                f"{MASTER_KEY_ENV} must be 32 bytes in base64 (make one with: "
                "python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"
            )
        return Sealer(key)
    path = Path(data_dir) / MASTER_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64encode(key) + b"\n")
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise TidingsError(f"{path} does not hold a 32-byte master key in base64")
    return Sealer(key)
