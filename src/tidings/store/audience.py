"""Streaming the endpoints of a segment version.

The segment's condition (``tidings.domain.segments``) is split in two: the conjuncts SQL
can express run in the database (SQLite JSON functions, PostgreSQL jsonb operators), the
rest is checked here in Python. Endpoints come in keyset pages ordered by id, each page in
its own short transaction, so memory stays flat and no snapshot is held for the whole scan.
Rows carry the stored endpoint JSON as text, ready to be spliced into payloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB, array

from tidings.domain import segments as seg
from tidings.store import schema as t
from tidings.store import segments as segment_store
from tidings.store.db import Database

E = t.endpoints.c
_JSON_PATHS = {"Attributes": "$.Attributes", "UserAttributes": "$.User.UserAttributes"}
_PG_PATHS = {"Attributes": ("Attributes",), "UserAttributes": ("User", "UserAttributes")}


class Member(NamedTuple):
    """One endpoint of a segment, as a run needs it (a tuple: a run makes one per endpoint)."""

    id: str
    cohort_id: int
    doc: str  # the stored endpoint JSON, as text
    channel_type: str | None = None
    opt_out: str = "NONE"
    endpoint_status: str = "ACTIVE"


def condition(
    conn: Connection, app_id: str, segment_id: str, version: int | None, now: datetime
) -> seg.Cond:
    """The condition of a stored segment version, with referenced segments resolved."""

    def lookup(ref_id: str, ref_version: int | None) -> dict:
        return segment_store.get(conn, app_id, ref_id, ref_version)

    return seg.condition_for(segment_store.get(conn, app_id, segment_id, version), lookup, now)


def split(cond: seg.Cond, dialect: str) -> tuple[ColumnElement[bool] | None, seg.Cond]:
    """SQL for the conjuncts the database can evaluate, and the rest for Python."""
    parts = cond.parts if isinstance(cond, seg.AllOf) else (cond,)
    pushed, residual = [], []
    for part in parts:
        clause = to_sql(part, dialect)
        (residual if clause is None else pushed).append(clause if clause is not None else part)
    return (and_(*pushed) if pushed else None), seg.all_of(residual)


def stream(
    db: Database,
    app_id: str,
    cond: seg.Cond,
    *,
    page_size: int = 2000,
    after: str | None = None,
) -> Iterator[Member]:
    """Every endpoint of the app matching ``cond``, in id order, starting after ``after``."""
    reader = PageReader(db, app_id, cond)
    while True:
        members, after = reader.page(after, page_size)
        yield from members
        if after is None:
            return


class PageReader:
    """Reads a condition's endpoints one keyset page at a time, each page its own short
    transaction. ``page`` also returns the last id it scanned (matching or not), which is
    where the next page starts and what a checkpoint records; None once the scan is done."""

    def __init__(self, db: Database, app_id: str, cond: seg.Cond) -> None:
        self.db = db
        where, residual = split(cond, db.dialect)
        self.check = None if residual == seg.Const(True) else residual
        doc_text = cast(E.doc, Text) if db.dialect == "postgresql" else type_coerce(E.doc, Text)
        query = select(
            E.id, E.cohort_id, doc_text.label("doc"), E.channel_type, E.opt_out, E.endpoint_status
        ).where(E.app_id == app_id)
        self.query = query if where is None else query.where(where)

    def page(self, after: str | None, size: int) -> tuple[list[Member], str | None]:
        query = self.query if after is None else self.query.where(E.id > after)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(E.id).limit(size)).all()
        # The query selects Member's fields in Member's order.
        members = [Member._make(row) for row in rows]
        if self.check is not None:
            members = [m for m in members if seg.matches(self.check, orjson.loads(m.doc))]
        return members, (rows[-1].id if len(rows) == size else None)


def count(db: Database, app_id: str, cond: seg.Cond) -> int:
    return sum(1 for _ in stream(db, app_id, cond))


# --- compiling conditions ---------------------------------------------------------------


def to_sql(cond: seg.Cond, dialect: str) -> ColumnElement[bool] | None:
    """An SQL expression equal to ``cond`` (never NULL), or None when SQL cannot say it."""
    pg = dialect == "postgresql"
    if isinstance(cond, seg.Const):
        return true() if cond.value else false()
    if isinstance(cond, seg.AllOf | seg.AnyOf):
        parts = [to_sql(p, dialect) for p in cond.parts]
        if any(p is None for p in parts):
            return None
        return and_(*parts) if isinstance(cond, seg.AllOf) else or_(*parts)
    if isinstance(cond, seg.Not):
        inner = to_sql(cond.part, dialect)
        return None if inner is None else not_(inner)
    if isinstance(cond, seg.FieldIn):
        column = _field(cond.field, pg)
        return func.coalesce(column.in_(cond.values), false())
    if isinstance(cond, seg.AttributeIn):
        if pg:
            values = _pg_attribute(cond.source, cond.name)
            # bool_op: a plain op() would type the result as JSONB, and NOT over it breaks.
            return func.coalesce(values.bool_op("?|")(array(cond.values)), false())
        return exists(_sqlite_values(cond.source, cond.name, lambda v: v.in_(cond.values)))
    if isinstance(cond, seg.AttributeContains):
        if pg:
            element = func.jsonb_array_elements_text(
                _pg_attribute(cond.source, cond.name)
            ).table_valued("value")
            hits = or_(*[func.strpos(element.c.value, n) > 0 for n in cond.values])
            return exists(select(literal(1)).select_from(element).where(hits))
        return exists(
            _sqlite_values(
                cond.source, cond.name, lambda v: or_(*[func.instr(v, n) > 0 for n in cond.values])
            )
        )
    if isinstance(cond, seg.MetricCompare):
        if pg:
            value = cast(_jsonb()["Metrics"][cond.name].astext, Float(precision=53))
        else:
            metric = (
                func.json_each(E.doc, "$.Metrics")
                .table_valued("key", "value", "type")
                .alias("metric")
            )
            test = _compare(metric.c.value, cond.operator, cond.value)
            return exists(
                select(literal(1))
                .select_from(metric)
                .where(metric.c.key == cond.name, metric.c.type.in_(("integer", "real")), test)
            )
        return func.coalesce(_compare(value, cond.operator, cond.value), false())
    if isinstance(cond, seg.WrittenSince):
        return E.effective_date >= cond.since
    if isinstance(cond, seg.Imported):
        return exists(_imported_members(cond))
    return None  # AttributeDate, Near: checked in Python


def _imported_members(cond: seg.Imported):
    """The endpoint is on the member list of the imported segment version (one primary-key
    lookup for the version, one for the member)."""
    V, M = t.segment_versions.c, t.segment_members.c
    return (
        select(literal(1))
        .select_from(t.segment_members)
        .join(t.segment_versions, and_(V.app_id == M.app_id, V.member_list == M.list_id))
        .where(
            V.app_id == E.app_id,
            V.segment_id == cond.segment_id,
            V.version == cond.version,
            M.app_id == E.app_id,
            M.endpoint_id == E.id,
        )
    )


def _compare(left, operator: str, right: float):
    return {
        "GREATER_THAN": left > right,
        "LESS_THAN": left < right,
        "GREATER_THAN_OR_EQUAL": left >= right,
        "LESS_THAN_OR_EQUAL": left <= right,
        "EQUAL": left == right,
    }[operator]


def _field(field: str, pg: bool):
    if field == "ChannelType":
        return E.channel_type
    parts = field.split(".")
    if pg:
        return _pg_path(tuple(parts[:-1]))[parts[-1]].astext
    return func.json_extract(E.doc, "$." + field)


def _jsonb():
    return type_coerce(E.doc, JSONB)


def _pg_path(keys: tuple[str, ...]):
    """``doc -> k1 -> k2 ...`` (``doc[k1][k2]`` on PostgreSQL 14+), one text bind per key.
    Not ``doc #> '{k1,k2}'``: SQLAlchemy writes that path as an unescaped array literal, so
    an attribute named ``a,b``, ``{x}`` or ``NULL`` would point elsewhere or fail."""
    value = _jsonb()
    for key in keys:
        value = value[key]
    return value


def _pg_attribute(source: str, name: str):
    return _pg_path(_PG_PATHS[source] + (name,))


def _sqlite_values(source: str, name: str, test):
    attributes = (
        func.json_each(E.doc, _JSON_PATHS[source]).table_valued("key", "value").alias("attr")
    )
    values = func.json_each(attributes.c.value).table_valued("value").alias("val")
    return (
        select(literal(1))
        .select_from(attributes)
        .join(values, true())
        .where(attributes.c.key == name, test(values.c.value))
    )


def preview(
    db: Database, app_id: str, segment_id: str, version: int | None, limit: int
) -> tuple[int, list[dict]]:
    """How many endpoints a segment version holds now, and the first ``limit`` of them."""
    with db.read() as conn:
        cond = condition(conn, app_id, segment_id, version, datetime.now(UTC))
    total, first = 0, []
    for member in stream(db, app_id, cond):
        total += 1
        if len(first) < limit:
            first.append({"Id": member.id, **orjson.loads(member.doc)})
    return total, first
