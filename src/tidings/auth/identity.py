"""The caller a verified request speaks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    access_key_id: str
    name: str
    is_root: bool  # the root key may do everything
    policy: dict[str, Any] | None  # the key's IAM identity policy; None allows nothing
