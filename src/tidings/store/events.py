"""Reported events, event stream settings, and what the campaign delivery records add up to.

KPIs are counted by the database (GROUP BY over ``deliveries``); delivery records stream
out in keyset pages, so neither ever holds a campaign's records in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, case, delete, func, literal_column, select, tuple_

from tidings.domain.events import (
    ATTEMPTED,
    BY_ACTIVITY,
    BY_CAMPAIGN,
    BY_DATE,
    SUCCESSFUL,
    DeliveryCounts,
)
from tidings.store import schema as t
from tidings.store.db import Database
from tidings.store.sql import upsert

D = t.deliveries.c
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


# --- KPIs ------------------------------------------------------------------------------------


def _group_column(group_by: str | None):
    if group_by is None:
        return None
    if group_by == BY_ACTIVITY:
        return D.activity_id
    if group_by == BY_CAMPAIGN:
        return D.campaign_id
    if group_by == BY_DATE:
        # ``at`` is ISO 8601 in UTC: its first ten characters are the UTC day. Literal
        # bounds, not parameters, so PostgreSQL sees one expression in SELECT and GROUP BY.
        return func.substr(D.at, literal_column("1"), literal_column("10"))
    raise ValueError(f"unknown grouping {group_by!r}")


def delivery_counts(
    conn: Connection,
    app_id: str,
    *,
    start: str,
    end: str,
    campaign_id: str | None = None,
    group_by: str | None = None,
) -> list[DeliveryCounts]:
    """Attempted, successful and unique successful deliveries between ``start`` and ``end``
    (ISO 8601 strings, inclusive), for the app or one of its campaigns.

    Without ``group_by`` the answer is one entry; with it, one entry per group that has an
    attempted delivery, in the order the groups first sent (days in date order).
    """
    success = D.status == SUCCESSFUL
    measures = [
        func.count().label("attempted"),
        func.coalesce(func.sum(case((success, 1), else_=0)), 0).label("successful"),
        func.count(func.distinct(case((success, D.endpoint_id)))).label("unique_successful"),
    ]
    where = [D.app_id == app_id, D.at >= start, D.at <= end, D.status.in_(ATTEMPTED)]
    if campaign_id is not None:
        where.append(D.campaign_id == campaign_id)
    group = _group_column(group_by)
    if group is None:
        row = conn.execute(select(*measures).where(*where)).one()
        return [DeliveryCounts(None, row.attempted, row.successful, row.unique_successful)]
    key = group.label("grp")
    query = select(key, *measures).where(*where).group_by(group).order_by(func.min(D.at), group)
    return [
        DeliveryCounts(row.grp, row.attempted, row.successful, row.unique_successful)
        for row in conn.execute(query)
    ]


# --- `_campaign.send` records ------------------------------------------------------------------

SEND_ORDER = (D.at, D.activity_id, D.endpoint_id)


def send_events(
    db: Database | Connection,
    app_id: str,
    campaign_id: str | None = None,
    activity_id: str | None = None,
    after: tuple[str, str, str] | None = None,
    limit: int | None = None,
    *,
    page_size: int = 1000,
) -> Iterator[dict]:
    """Delivery rows of an app (or one campaign, or one activity) in (at, activity, endpoint)
    order, as dicts with the ``deliveries`` columns.

    ``after`` is the (at, activity_id, endpoint_id) of the last row already seen; ``limit``
    caps how many rows come out. Given a Database, each page is read in its own short
    transaction; given a Connection, every page is read on it.
    """
    filters = [D.app_id == app_id]
    if campaign_id is not None:
        filters.append(D.campaign_id == campaign_id)
    if activity_id is not None:
        filters.append(D.activity_id == activity_id)
    remaining = limit
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        query = select(t.deliveries).where(*filters)
        if after is not None:
            query = query.where(tuple_(*SEND_ORDER) > tuple_(*after))
        query = query.order_by(*SEND_ORDER).limit(size)
        if isinstance(db, Database):
            with db.read() as conn:
                rows = [dict(row._mapping) for row in conn.execute(query)]
        else:
            rows = [dict(row._mapping) for row in db.execute(query)]
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1]
        after = (last["at"], last["activity_id"], last["endpoint_id"])
        if remaining is not None:
            remaining -= len(rows)
