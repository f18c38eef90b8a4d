"""Opaque page tokens for list operations (keyset paging: the token is the last key)."""

from __future__ import annotations

import base64
import binascii

import orjson

from tidings.domain.errors import InvalidInput

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(text: str | None, member: str = "page-size") -> int:
    if text is None or text == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        raise InvalidInput(f"{member} must be a whole number, got {text!r}", member=member) from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"{member} must be between 1 and {MAX_PAGE_SIZE}, got {size}", member=member
        )
    return size


def encode_token(key: list) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_token(
    token: str | None, width: int, member: str = "token", kinds: tuple[type, ...] | None = None
) -> list | None:
    """The keyset position a token holds: ``width`` values (of ``kinds``, when given, so that a
    forged token cannot reach a query as a value of another type)."""
    if not token:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        key = None
    well_typed = kinds is None or (
        isinstance(key, list) and all(type(v) is kind for v, kind in zip(key, kinds, strict=False))
    )
    if not isinstance(key, list) or len(key) != width or not well_typed:
        raise InvalidInput(
            f"{member} {token!r} is not a token this list returned; pass the NextToken "
            "of the previous page, or leave it out to start from the first page",
            member=member,
        )
    return key
