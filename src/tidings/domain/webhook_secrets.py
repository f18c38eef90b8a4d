"""The form of webhook signing secrets: Standard Webhooks' ``whsec_`` + base64 of random bytes.

The HMAC key is the decoded bytes, so receivers hand the secret as printed to a Standard
Webhooks library (``Webhook("whsec_...")``) and it works.
"""

from __future__ import annotations

import base64
import binascii
import os

PREFIX = "whsec_"
# The specification asks for 24 to 64 random bytes.
KEY_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for; ValueError when ``secret`` is not in the whsec_ form."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook signing secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook signing secret may not be empty")
    return key


def from_legacy(plain: str) -> str:
    """The whsec_ form of a secret made before the standard (64 hex characters), with the same
    HMAC key: the old scheme keyed HMAC with the text itself, so its bytes become the key."""
    return PREFIX + base64.b64encode(plain.encode()).decode()
