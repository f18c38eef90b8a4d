"""Endpoints, the custom attribute names a project has seen, and RemoveAttributes filters."""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select

from tidings.domain.endpoints import ATTRIBUTE_TYPES, user_id
from tidings.store import schema as t
from tidings.store.sql import insert_ignore, upsert

E = t.endpoints.c


def _row(app_id: str, endpoint_id: str, doc: dict) -> dict:
    """The columns queries filter on, promoted from the document."""
    return {
        "app_id": app_id,
        "id": endpoint_id,
        "channel_type": doc.get("ChannelType"),
        "address": doc.get("Address"),
        "endpoint_status": doc["EndpointStatus"],
        "opt_out": doc["OptOut"],
        "user_id": user_id(doc),
        "cohort_id": int(doc["CohortId"]),
        "creation_date": doc["CreationDate"],
        "effective_date": doc["EffectiveDate"],
        "doc": doc,
    }


def get_many(conn: Connection, app_id: str, ids: list[str], *, lock: bool = False) -> dict[str, dict]:
    if not ids:
        return {}
    query = select(E.id, E.doc).where(E.app_id == app_id, E.id.in_(ids))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: row.doc for row in conn.execute(query)}


def get(conn: Connection, app_id: str, endpoint_id: str) -> dict | None:
    return get_many(conn, app_id, [endpoint_id]).get(endpoint_id)


def save(conn: Connection, app_id: str, docs: dict[str, dict]) -> None:
    upsert(conn, t.endpoints, [_row(app_id, i, d) for i, d in docs.items()], ("app_id", "id"))


def of_user(conn: Connection, app_id: str, user: str) -> dict[str, dict]:
    query = select(E.id, E.doc).where(E.app_id == app_id, E.user_id == user).order_by(E.id)
    return {row.id: row.doc for row in conn.execute(query)}


def active_with_addresses(conn: Connection, app_id: str, addresses: list[str]) -> dict[str, dict]:
    """The ACTIVE endpoints that have one of ``addresses``, in one query (by the address index)."""
    if not addresses:
        return {}
    query = select(E.id, E.doc).where(
        E.app_id == app_id, E.address.in_(addresses), E.endpoint_status == "ACTIVE"
    )
    return {row.id: row.doc for row in conn.execute(query)}


def delete_ids(conn: Connection, app_id: str, ids: list[str]) -> None:
    conn.execute(delete(t.endpoints).where(E.app_id == app_id, E.id.in_(ids)))


def count(conn: Connection, app_id: str) -> int:
    return conn.execute(select(func.count()).where(E.app_id == app_id)).scalar_one()


# --- custom attribute names and filters ------------------------------------------------


def known_names(conn: Connection, app_id: str) -> set[tuple[str, str]]:
    c = t.attribute_names.c
    rows = conn.execute(select(c.kind, c.name).where(c.app_id == app_id))
    return {(kind, name) for kind, name in rows}


def add_names(conn: Connection, app_id: str, names: set[tuple[str, str]]) -> None:
    rows = [{"app_id": app_id, "kind": kind, "name": name} for kind, name in sorted(names)]
    insert_ignore(conn, t.attribute_names, rows, ("app_id", "kind", "name"))


def forget_names(conn: Connection, app_id: str, kind: str, names: list[str]) -> None:
    c = t.attribute_names.c
    conn.execute(
        delete(t.attribute_names).where(c.app_id == app_id, c.kind == kind, c.name.in_(names))
    )


def filters(conn: Connection, app_id: str) -> dict[str, list[str]]:
    """RemoveAttributes patterns by the endpoint map they apply to."""
    c = t.attribute_filters.c
    result: dict[str, list[str]] = {}
    for kind, pattern in conn.execute(select(c.kind, c.pattern).where(c.app_id == app_id)):
        result.setdefault(ATTRIBUTE_TYPES[kind], []).append(pattern)
    return result


def add_filters(conn: Connection, app_id: str, kind: str, patterns: list[str]) -> None:
    rows = [{"app_id": app_id, "kind": kind, "pattern": p} for p in patterns]
    insert_ignore(conn, t.attribute_filters, rows, ("app_id", "kind", "pattern"))
