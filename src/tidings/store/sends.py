"""Send records: what campaign runs did, endpoint by endpoint, kept compactly.

A batch the channel accepted is one ``send_records`` row listing its endpoint ids; every
other outcome is a row per endpoint with the endpoint as it was. Nothing is indexed per
endpoint there. The campaigns whose rules look earlier sends up one endpoint at a time (the
Daily and Total caps, local-time waves) also get ``endpoint_sends`` rows, written in the
same transaction as their records (``add_records``) and, when a campaign starts needing
them, filled from the records kept so far (``index_campaigns``).

KPIs are sums over the records, with distinct endpoints counted by the database expanding
the id lists; `_campaign.send` listings expand them in keyset pages. Neither holds a
campaign's records in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.domain.events import (
    ATTEMPTED,
    BY_ACTIVITY,
    BY_CAMPAIGN,
    BY_DATE,
    SUCCESSFUL,
    DeliveryCounts,
)
from tidings.domain.schedules import keeps_sends_per_endpoint
from tidings.store import schema as t
from tidings.store.db import Database
from tidings.store.sql import insert_tuples

R = t.send_records.c
X = t.endpoint_sends.c
C = t.campaigns.c
E = t.endpoints.c

# A send record, as the tuple ``add_records`` takes: these columns in this order.
RECORD_COLUMNS = (
    "app_id", "campaign_id", "activity_id", "treatment_id", "status", "reason", "batch_id", "at",
    "endpoint_ids", "endpoint_count", "endpoint",
)  # fmt: skip
_ENDPOINT_IDS = RECORD_COLUMNS.index("endpoint_ids")
ENDPOINT_SEND_COLUMNS = ("app_id", "endpoint_id", "activity_id", "campaign_id", "status", "at")  # key first


def batch_record(
    app_id: str, campaign_id: str, activity_id: str, treatment_id: str, status: str, at: str, batch_id: str,
    endpoint_ids: Sequence[str],
) -> tuple:  # fmt: skip
    """The one record of a batch's endpoints that ended alike with nothing to say each (SUCCESS)."""
    ids = orjson.dumps(list(endpoint_ids)).decode()
    return (
        app_id,
        campaign_id,
        activity_id,
        treatment_id,
        status,
        None,
        batch_id,
        at,
        ids,
        len(endpoint_ids),
        None,
    )


def endpoint_record(
    app_id: str, campaign_id: str, activity_id: str, treatment_id: str, status: str, at: str,
    endpoint_id: str, endpoint: str, reason: str | None = None, batch_id: str | None = None,
) -> tuple:  # fmt: skip
    """One endpoint's record, with the endpoint (stored JSON text) as it was."""
    ids = orjson.dumps([endpoint_id]).decode()
    return (
        app_id,
        campaign_id,
        activity_id,
        treatment_id,
        status,
        reason,
        batch_id,
        at,
        ids,
        1,
        endpoint,
    )


def add_records(conn: Connection, records: list[tuple]) -> None:
    """Append send records (tuples in RECORD_COLUMNS order), and the per-endpoint rows of
    the campaigns that keep them."""
    if not records:
        return
    insert_tuples(conn, t.send_records, RECORD_COLUMNS, records)
    indexed = _indexed_campaigns(conn, {r[1] for r in records})
    if indexed:
        rows = [
            (r[0], endpoint_id, r[2], r[1], r[4], r[7])
            for r in records
            if r[1] in indexed
            for endpoint_id in orjson.loads(r[_ENDPOINT_IDS])
        ]
        insert_tuples(conn, t.endpoint_sends, ENDPOINT_SEND_COLUMNS, rows, keep_existing=ENDPOINT_SEND_COLUMNS[:3])


def _indexed_campaigns(conn: Connection, campaign_ids: set[str]) -> set[str]:
    """Which of these campaigns keep per-endpoint rows. On PostgreSQL every one of the
    campaign rows is share-locked (indexed or not: a row the query skipped would not be
    locked), so ``index_campaigns``, which locks them to write, either waits for these
    records and copies them, or comes first and these records see the flag it set."""
    query = select(C.id, C.indexed_sends).where(C.id.in_(campaign_ids)).order_by(C.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return {campaign_id for campaign_id, indexed in conn.execute(query) if indexed}


def _each_id(conn: Connection):
    """The endpoint ids of a send record, one row each (a table-valued function to join)."""
    if conn.dialect.name == "postgresql":
        return func.json_array_elements_text(cast(R.endpoint_ids, JSON)).table_valued("value")
    return func.json_each(R.endpoint_ids).table_valued("value")


def index_campaigns(conn: Connection, app_id: str, campaign_ids: list[str]) -> list[str]:
    """From now on keep these campaigns' sends per endpoint too, starting with every record
    kept so far. Returns the campaigns that did not keep them before."""
    if not campaign_ids:
        return []
    query = select(C.id).where(C.app_id == app_id, C.id.in_(campaign_ids), ~C.indexed_sends).order_by(C.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    fresh = list(conn.execute(query).scalars())
    if not fresh:
        return []
    conn.execute(
        update(t.campaigns).where(C.app_id == app_id, C.id.in_(fresh)).values(indexed_sends=True)
    )
    ids = _each_id(conn)
    rows = (
        select(R.app_id, ids.c.value, R.activity_id, R.campaign_id, R.status, R.at)
        .select_from(t.send_records)
        .join(ids, true())
        .where(R.app_id == app_id, R.campaign_id.in_(fresh))
    )
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(t.endpoint_sends).from_select(ENDPOINT_SEND_COLUMNS, rows).on_conflict_do_nothing())
    return fresh


def index_where_rules_look(conn: Connection, app_id: str, app_settings: dict, campaigns: list[dict]) -> None:
    """Index the sends of those of these campaigns (latest documents) whose runs, under the
    app's settings, look their sends up endpoint by endpoint."""
    needed = [doc["Id"] for doc in campaigns if keeps_sends_per_endpoint(doc, app_settings)]
    index_campaigns(conn, app_id, needed)


# --- what the rules look up ------------------------------------------------------------------


def send_counts(
    conn: Connection,
    app_id: str,
    endpoint_ids: list[str],
    statuses: tuple[str, ...],
    *,
    campaign_id: str | None = None,
    since: str | None = None,
) -> dict[str, int]:
    """How many sends with one of ``statuses`` each endpoint has (in one campaign, since a
    time), among the campaigns that keep them per endpoint."""
    if not endpoint_ids:
        return {}
    query = (
        select(X.endpoint_id, func.count())
        .where(X.app_id == app_id, X.endpoint_id.in_(endpoint_ids), X.status.in_(statuses))
        .group_by(X.endpoint_id)
    )
    if campaign_id is not None:
        query = query.where(X.campaign_id == campaign_id)
    if since is not None:
        query = query.where(X.at >= since)
    return {endpoint_id: n for endpoint_id, n in conn.execute(query)}


def recorded(conn: Connection, app_id: str, activity_id: str, endpoint_ids: list[str]) -> set[str]:
    """Which of these endpoints already have a record in the activity (a local-time run's
    earlier wave); the activity's campaign keeps its sends per endpoint."""
    if not endpoint_ids:
        return set()
    query = select(X.endpoint_id).where(
        X.app_id == app_id, X.endpoint_id.in_(endpoint_ids), X.activity_id == activity_id
    )
    return set(conn.execute(query).scalars())


# --- retention -------------------------------------------------------------------------------


def prune(conn: Connection, before: str, limit: int) -> int:
    """Remove up to ``limit`` send records (and per-endpoint rows) older than ``before``;
    returns how many went. Called in short transactions until it returns less than limit."""
    removed = 0
    for app_id in conn.execute(select(t.apps.c.id)).scalars():
        old = select(R.seq).where(R.app_id == app_id, R.at < before).limit(limit - removed)
        removed += conn.execute(delete(t.send_records).where(R.seq.in_(old))).rowcount
        if removed >= limit:
            return removed
        keys = tuple_(X.app_id, X.endpoint_id, X.activity_id)
        old_rows = select(X.app_id, X.endpoint_id, X.activity_id).where(
            X.app_id == app_id, X.at < before
        )
        removed += conn.execute(
            delete(t.endpoint_sends).where(keys.in_(old_rows.limit(limit - removed)))
        ).rowcount
        if removed >= limit:
            return removed
    return removed


# --- KPIs ------------------------------------------------------------------------------------


def _group_column(group_by: str | None):
    if group_by is None:
        return None
    if group_by == BY_ACTIVITY:
        return R.activity_id
    if group_by == BY_CAMPAIGN:
        return R.campaign_id
    if group_by == BY_DATE:
        # ``at`` is ISO 8601 in UTC: its first ten characters are the UTC day. Literal
        # bounds, not parameters, so PostgreSQL sees one expression in SELECT and GROUP BY.
        return func.substr(R.at, literal_column("1"), literal_column("10"))
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
    where = [R.app_id == app_id, R.at >= start, R.at <= end, R.status.in_(ATTEMPTED)]
    if campaign_id is not None:
        where.append(R.campaign_id == campaign_id)
    group = _group_column(group_by)
    keys = [] if group is None else [group.label("grp")]
    sums = select(
        *keys,
        func.coalesce(func.sum(R.endpoint_count), 0).label("attempted"),
        func.coalesce(func.sum(case((R.status == SUCCESSFUL, R.endpoint_count), else_=0)), 0).label(
            "successful"
        ),
        func.min(R.at).label("first"),
    ).where(*where)
    ids = _each_id(conn)
    unique = (
        select(*keys, func.count(func.distinct(ids.c.value)).label("unique"))
        .select_from(t.send_records)
        .join(ids, true())
        .where(*where, R.status == SUCCESSFUL)
    )
    if group is None:
        row = conn.execute(sums).one()
        return [
            DeliveryCounts(None, row.attempted, row.successful, conn.execute(unique).scalar_one())
        ]
    distinct = {grp: n for grp, n in conn.execute(unique.group_by(group))}
    rows = conn.execute(sums.group_by(group)).all()
    rows.sort(key=lambda row: (row.first, row.grp))
    return [
        DeliveryCounts(row.grp, row.attempted, row.successful, distinct.get(row.grp, 0))
        for row in rows
    ]


# --- `_campaign.send` records ------------------------------------------------------------------


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
    """One dict per endpoint of each send record of an app (or one campaign, or one
    activity), in (at, activity, endpoint) order: the ``send_records`` columns with
    ``endpoint_id`` and ``endpoint`` for that endpoint. A batch's record names its endpoints
    only, so for those ``endpoint`` is the endpoint as stored now (None if it was deleted).

    ``after`` is the (at, activity_id, endpoint_id) of the last row already seen; ``limit``
    caps how many rows come out. Given a Database, each page is read in its own short
    transaction; given a Connection, every page is read on it.
    """
    remaining = limit
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        if isinstance(db, Database):
            with db.read() as conn:
                rows = _send_page(conn, app_id, campaign_id, activity_id, after, size)
        else:
            rows = _send_page(db, app_id, campaign_id, activity_id, after, size)
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1]
        after = (last["at"], last["activity_id"], last["endpoint_id"])
        if remaining is not None:
            remaining -= len(rows)


def _send_page(
    conn: Connection,
    app_id: str,
    campaign_id: str | None,
    activity_id: str | None,
    after: tuple[str, str, str] | None,
    size: int,
) -> list[dict]:
    ids = _each_id(conn)
    endpoint_id = ids.c.value
    stored = cast(E.doc, Text) if conn.dialect.name == "postgresql" else type_coerce(E.doc, Text)
    query = (
        select(
            R.app_id,
            R.campaign_id,
            R.activity_id,
            endpoint_id.label("endpoint_id"),
            R.treatment_id,
            R.status,
            R.reason,
            R.batch_id,
            R.at,
            func.coalesce(R.endpoint, stored).label("endpoint"),
        )  # fmt: skip
        .select_from(t.send_records)
        .join(ids, true())
        .outerjoin(
            t.endpoints, and_(E.app_id == R.app_id, E.id == endpoint_id, R.endpoint.is_(None))
        )
        .where(R.app_id == app_id)
    )
    if campaign_id is not None:
        query = query.where(R.campaign_id == campaign_id)
    if activity_id is not None:
        query = query.where(R.activity_id == activity_id)
    if after is not None:
        at, activity, endpoint = after
        query = query.where(
            tuple_(R.at, R.activity_id) >= tuple_(at, activity),
            or_(tuple_(R.at, R.activity_id) > tuple_(at, activity), endpoint_id > endpoint),
        )
    query = query.order_by(R.at, R.activity_id, endpoint_id).limit(size)
    return [dict(row._mapping) for row in conn.execute(query)]
