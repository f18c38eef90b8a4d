"""Small SQL helpers shared by the store modules."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, Connection, Select, Table, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from tidings.domain.paging import decode_token, encode_token


def upsert(conn: Connection, table: Table, rows: list[dict], keys: Sequence[str]) -> None:
    """Insert rows, replacing the non-key columns of rows that already exist."""
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    updates = {c: insert.excluded[c] for c in rows[0] if c not in keys}
    statement = (
        insert.on_conflict_do_update(index_elements=list(keys), set_=updates)
        if updates
        else insert.on_conflict_do_nothing(index_elements=list(keys))
    )
    conn.execute(statement, rows)


def insert_ignore(conn: Connection, table: Table, rows: list[dict], keys: Sequence[str]) -> None:
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    conn.execute(insert.on_conflict_do_nothing(index_elements=list(keys)), rows)


def insert_tuples(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple], *, keep_existing: Sequence[str] = ()
) -> None:
    """Insert rows given as tuples in ``columns`` order, straight to the driver: for the
    writes made once per batch or endpoint, where building and binding SQL expressions cost
    more than the database's own work. ``keep_existing``: the key whose existing rows stay."""
    if not rows:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if keep_existing:
        sql += f" ON CONFLICT ({', '.join(keep_existing)}) DO NOTHING"
    conn.exec_driver_sql(sql, rows)


def keyset_page(
    conn: Connection,
    query: Select,
    keys: Sequence[Column],
    size: int,
    token: str | None,
    *,
    descending: bool = False,
) -> tuple[list, str | None]:
    """One page of ``query`` ordered by ``keys``, and the token of the next page (or None)."""
    after = decode_token(token, len(keys))
    if after is not None:
        row_key, values = tuple_(*keys), tuple_(*after)
        query = query.where(row_key < values if descending else row_key > values)
    order = [k.desc() for k in keys] if descending else list(keys)
    rows = conn.execute(query.order_by(*order).limit(size + 1)).all()
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]._mapping
    return rows, encode_token([last[k] for k in keys])
