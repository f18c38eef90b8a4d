"""Delivery adapters: a campaign batch handed to a function or a webhook.

Every channel answers one attempt with an ``Attempt``; retries, backoff and the records
they lead to belong to the run coordinator (``tidings.campaigns``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retryable: bool  # worth another try (timeouts, 5xx, 429, connection errors)
    reason: str = ""  # for people, when not ok: "HTTP 503 from https://...", "timed out after 15 s"
