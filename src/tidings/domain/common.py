"""Ids, dates and other small facts shared by the domain modules."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from tidings.domain.errors import InvalidInput


def random_uuid() -> str:
    """A random version-4 UUID for ids made by the thousand (batch ids, invocation request
    ids) that must be unique but need not be unguessable: Python's generator is seeded from
    the OS once, where uuid.uuid4 asks the OS every time, a system call that showed up in
    run profiles."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def new_id() -> str:
    """An id in the form Pinpoint generates: 32 lower-case hex characters."""
    return uuid.uuid4().hex


def format_date(moment: datetime) -> str:
    """ISO 8601 with milliseconds and Z, as Pinpoint writes dates."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return format_date(datetime.now(UTC))


def parse_date(text: str) -> datetime | None:
    """Read an ISO 8601 date or date-time; None when it is not one. Naive times are UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def require_date(text: str, member: str) -> datetime:
    parsed = parse_date(text)
    if parsed is None:
        raise InvalidInput(
            f"{member} must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z, got {text!r}",
            member=member,
        )
    return parsed


def normalize_date(text: str, member: str) -> str:
    """An ISO date supplied by a caller, rewritten in Pinpoint's own form."""
    return format_date(require_date(text, member))
