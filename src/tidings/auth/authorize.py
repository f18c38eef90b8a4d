"""Authorizing each operation with the caller's identity policy.

(Placeholder until the action and resource of each operation are mapped: only the root key
is allowed.)
"""

from __future__ import annotations

from typing import Any

from tidings.auth.identity import Identity
from tidings.domain.errors import Forbidden


def authorize(
    identity: Identity, service: str, operation: str, params: dict[str, Any], *, region: str, account: str
) -> None:
    """Raise a 403 AccessDeniedException unless ``identity`` may call ``operation`` with ``params``."""
    if identity.is_root:
        return
    raise Forbidden(
        f"the key {identity.access_key_id} is not allowed to call {service} {operation}",
        code="AccessDeniedException",
    )
