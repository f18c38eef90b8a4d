"""Functions, their code archives and their queued event invocations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update

from tidings.store import schema as t
from tidings.store.sql import insert_ignore, keyset_page

F = t.functions.c
Q = t.function_events.c


@dataclass(frozen=True)
class FunctionRecord:
    name: str
    config: dict
    code_sha256: str
    code_size: int
    revision_id: str
    last_modified: str
    reserved_concurrency: int | None
    policy: dict | None
    tags: dict


def _record(row) -> FunctionRecord:
    return FunctionRecord(
        row.name,
        row.config,
        row.code_sha256,
        row.code_size,
        row.revision_id,
        row.last_modified,
        row.reserved_concurrency,
        row.policy,
        row.tags,
    )


def get(conn: Connection, name: str, *, lock: bool = False) -> FunctionRecord | None:
    query = select(t.functions).where(F.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _record(row) if row else None


def insert(conn: Connection, record: FunctionRecord) -> None:
    conn.execute(t.functions.insert().values(**record.__dict__))


def save(conn: Connection, record: FunctionRecord) -> None:
    values = {k: v for k, v in record.__dict__.items() if k != "name"}
    conn.execute(update(t.functions).where(F.name == record.name).values(**values))


def remove(conn: Connection, name: str) -> None:
    conn.execute(delete(t.functions).where(F.name == name))
    conn.execute(delete(t.function_events).where(Q.function_name == name))


def page(conn: Connection, size: int, marker: str | None) -> tuple[list[FunctionRecord], str | None]:
    rows, token = keyset_page(conn, select(t.functions), (F.name,), size, marker)
    return [_record(r) for r in rows], token


def total_reserved(conn: Connection, except_name: str) -> int:
    query = select(func.coalesce(func.sum(F.reserved_concurrency), 0)).where(F.name != except_name)
    return int(conn.execute(query).scalar_one())


# --- code ----------------------------------------------------------------------------


def put_code(conn: Connection, sha256_hex: str, zip_bytes: bytes) -> None:
    insert_ignore(conn, t.function_code, [{"sha256": sha256_hex, "zip": zip_bytes}], ("sha256",))


def code(conn: Connection, sha256_hex: str) -> bytes | None:
    return conn.execute(select(t.function_code.c.zip).where(t.function_code.c.sha256 == sha256_hex)).scalar()


def forget_unused_code(conn: Connection) -> None:
    used = select(F.code_sha256)
    conn.execute(delete(t.function_code).where(t.function_code.c.sha256.not_in(used)))


# --- event invocations ---------------------------------------------------------------


def enqueue(conn: Connection, event_id: str, name: str, payload: bytes, due_at: float, created: str) -> None:
    conn.execute(
        t.function_events.insert().values(
            id=event_id, function_name=name, payload=payload, attempts=0, due_at=due_at, state="queued", created=created
        )
    )


def due_events(conn: Connection, now: float, limit: int) -> list:
    query = (
        select(t.function_events)
        .where(Q.state == "queued", Q.due_at <= now)
        .order_by(Q.due_at)
        .limit(limit)
    )
    return conn.execute(query).all()


def next_due(conn: Connection) -> float | None:
    return conn.execute(select(func.min(Q.due_at)).where(Q.state == "queued")).scalar()


def settle_event(conn: Connection, event_id: str, *, state: str, attempts: int, due_at: float, error: str | None) -> None:
    conn.execute(
        update(t.function_events)
        .where(Q.id == event_id)
        .values(state=state, attempts=attempts, due_at=due_at, last_error=error)
    )


def event(conn: Connection, event_id: str):
    return conn.execute(select(t.function_events).where(Q.id == event_id)).first()
