"""Reported events and event stream settings. What campaign runs sent is in
``tidings.store.sends``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select

from tidings.store import schema as t
from tidings.store.sql import upsert

S = t.event_streams.c


# --- PutEvents -------------------------------------------------------------------------------


def add_events(conn: Connection, rows: Sequence[dict]) -> None:
    """Insert events: dicts with app_id, endpoint_id, event_id, event_type, timestamp, arrival, doc."""
    if rows:
        conn.execute(t.events.insert(), list(rows))


# --- event stream ----------------------------------------------------------------------------


def get_stream(conn: Connection, app_id: str) -> dict | None:
    return conn.execute(select(S.doc).where(S.app_id == app_id)).scalar()


def put_stream(conn: Connection, app_id: str, doc: dict) -> None:
    upsert(conn, t.event_streams, [{"app_id": app_id, "doc": doc}], ("app_id",))


def delete_stream(conn: Connection, app_id: str) -> dict | None:
    """Remove the app's event stream and return it (None when there was none)."""
    doc = get_stream(conn, app_id)
    if doc is not None:
        conn.execute(delete(t.event_streams).where(S.app_id == app_id))
    return doc
