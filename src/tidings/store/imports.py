"""Bulk writes for import jobs: endpoint upserts and imported segments' member lists.

These run once per chunk of thousands of rows, so they go to the driver as one
``executemany`` of plain tuples, with each document serialized once by orjson, instead of
through SQLAlchemy's per-row parameter processing.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, delete

from tidings.domain.endpoints import user_id
from tidings.store import schema as t

M = t.segment_members.c
# The endpoints table's columns, in the order import readers prepare new endpoints' rows.
ENDPOINT_COLUMNS = (
    "app_id", "id", "channel_type", "address", "endpoint_status", "opt_out", "user_id",
    "cohort_id", "creation_date", "effective_date", "doc",
)  # fmt: skip


def _marks(conn: Connection, count: int, last: str = "") -> str:
    """Placeholders in the driver's style; ``last`` wraps the final one (a cast)."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = [mark] * count
    if last:
        marks[-1] = last.format(mark)
    return ", ".join(marks)


def save_endpoints(conn: Connection, app_id: str, pending: dict[str, tuple | dict]) -> None:
    """Insert or replace endpoints: id -> a document, or the endpoint's row as the import
    reader prepared it (the values of ENDPOINT_COLUMNS, the doc as JSON text)."""
    if not pending:
        return
    pg = conn.dialect.name == "postgresql"
    columns = ", ".join(f'"{c}"' for c in ENDPOINT_COLUMNS)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in ENDPOINT_COLUMNS[2:])
    values = _marks(conn, len(ENDPOINT_COLUMNS), "CAST({} AS jsonb)" if pg else "")
    sql = (
        f"INSERT INTO endpoints ({columns}) VALUES ({values}) "
        f"ON CONFLICT (app_id, id) DO UPDATE SET {updates}"
    )
    dumps = orjson.dumps
    rows = []
    for endpoint_id, value in pending.items():
        if type(value) is tuple:  # a prepared row
            rows.append(value)
            continue
        doc: dict = value  # type: ignore[assignment]
        rows.append(
            (
                app_id,
                endpoint_id,
                doc.get("ChannelType"),
                doc.get("Address"),
                doc["EndpointStatus"],
                doc["OptOut"],
                user_id(doc),
                int(doc["CohortId"]),
                doc["CreationDate"],
                doc["EffectiveDate"],
                dumps(doc).decode(),
            )
        )
    conn.exec_driver_sql(sql, rows)


def add_members(conn: Connection, app_id: str, list_id: str, endpoint_ids: list[str]) -> list[str]:
    """Add endpoints to a member list; the ids that were not on it yet."""
    if not endpoint_ids:
        return []
    if conn.dialect.name == "postgresql":
        source, keys = "SELECT %s, %s, unnest(%s::text[])", endpoint_ids
    else:
        source, keys = "SELECT ?, ?, value FROM json_each(?) WHERE true", orjson.dumps(endpoint_ids).decode()
    sql = (
        f"INSERT INTO segment_members (app_id, list_id, endpoint_id) {source} "
        "ON CONFLICT (app_id, list_id, endpoint_id) DO NOTHING RETURNING endpoint_id"
    )
    return [row[0] for row in conn.exec_driver_sql(sql, (app_id, list_id, keys))]


def drop_list(conn: Connection, app_id: str, list_id: str) -> None:
    conn.execute(delete(t.segment_members).where(M.app_id == app_id, M.list_id == list_id))


# Lookups by thousands of keys at once pass the keys as one parameter (a JSON array on
# SQLite, an array on PostgreSQL) rather than thousands of placeholders to bind one by one.
def _keyed(conn: Connection, sql: str, app_id: str, keys: list[str]):
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql(sql.format(keys="ANY(%s)", doc="doc::text").replace("?", "%s"), (app_id, keys))
    return conn.exec_driver_sql(
        sql.format(keys="(SELECT value FROM json_each(?))", doc="doc"), (app_id, orjson.dumps(keys).decode())
    )


def docs(conn: Connection, app_id: str, ids: list[str]) -> dict[str, dict]:
    """The stored documents of the endpoints among ``ids`` that exist (locked on PostgreSQL)."""
    if not ids:
        return {}
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    sql = "SELECT id, {doc} FROM endpoints WHERE app_id = ? AND id IN {keys}" + lock
    if conn.dialect.name == "postgresql":
        sql = sql.replace("id IN {keys}", "id = {keys}")
    loads = orjson.loads
    return {endpoint_id: loads(doc) for endpoint_id, doc in _keyed(conn, sql, app_id, ids)}


def active_with_addresses(conn: Connection, app_id: str, addresses: list[str]) -> dict[str, dict]:
    """The ACTIVE endpoints that have one of ``addresses``."""
    if not addresses:
        return {}
    sql = "SELECT id, {doc} FROM endpoints WHERE app_id = ? AND address IN {keys} AND endpoint_status = 'ACTIVE'"
    if conn.dialect.name == "postgresql":
        sql = sql.replace("address IN {keys}", "address = {keys}")
    loads = orjson.loads
    return {endpoint_id: loads(doc) for endpoint_id, doc in _keyed(conn, sql, app_id, addresses)}


def users_endpoints(conn: Connection, app_id: str, users: list[str]) -> dict[str, dict[str, dict]]:
    """user id -> {endpoint id: the members the per-user limit looks at} for ``users``."""
    if not users:
        return {}
    sql = "SELECT id, user_id, channel_type, effective_date FROM endpoints WHERE app_id = ? AND user_id IN {keys}"
    if conn.dialect.name == "postgresql":
        sql = sql.replace("user_id IN {keys}", "user_id = {keys}")
    found: dict[str, dict[str, dict]] = {}
    for endpoint_id, user, channel, effective in _keyed(conn, sql, app_id, users):
        found.setdefault(user, {})[endpoint_id] = {"ChannelType": channel, "EffectiveDate": effective}
    return found
