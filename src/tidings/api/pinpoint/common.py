"""Helpers the Pinpoint handlers share."""

from __future__ import annotations

from tidings.domain.errors import InvalidInput


def version_number(text: str, member: str = "version") -> int:
    try:
        version = int(text)
    except ValueError:
        version = 0
    if version < 1:
        raise InvalidInput(f"{member} must be a version number (1, 2, ...), got {text!r}", member=member)
    return version
