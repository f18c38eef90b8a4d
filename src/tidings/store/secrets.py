"""Per-application secrets that sign webhook deliveries (see tidings.channels.webhook)."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, select

from tidings.domain.common import now_iso
from tidings.store import schema as t
from tidings.store.sql import insert_ignore, upsert


def signing_secret(conn: Connection, app_id: str, *, rotate: bool = False) -> str:
    """The app's signing secret, made on first use; ``rotate=True`` replaces it with a new one.

    Needs a write connection the first time (and to rotate). Two first uses at once both try
    to insert; the primary key keeps one and both read that one back.
    """
    if not rotate:
        existing = _stored(conn, app_id)
        if existing is not None:
            return existing
    row = {"app_id": app_id, "secret": secrets.token_hex(32), "created": now_iso()}
    if rotate:
        upsert(conn, t.signing_secrets, [row], ("app_id",))
    else:
        insert_ignore(conn, t.signing_secrets, [row], ("app_id",))
    stored = _stored(conn, app_id)
    assert stored is not None  # just written, in this transaction
    return stored


def _stored(conn: Connection, app_id: str) -> str | None:
    query = select(t.signing_secrets.c.secret).where(t.signing_secrets.c.app_id == app_id)
    return conn.execute(query).scalar_one_or_none()
