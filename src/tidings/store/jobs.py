"""Import and export jobs: their rows, leases, checkpoints and lists.

A job is leased by the server that runs it, like a campaign activity. Every checkpoint is
written only while the lease is still this server's (``advance`` answers False otherwise),
so two servers never both write one job's chunks.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.engine import Row

from tidings.domain.errors import NotFound
from tidings.store import schema as t
from tidings.store.sql import keyset_page

J = t.jobs.c
RUNNABLE = ("CREATED", "PROCESSING")


def create(conn: Connection, app_id: str, job_id: str, kind: str, created: str, definition: dict,
           segment_id: str | None, cursor: dict | None = None) -> None:  # fmt: skip
    conn.execute(
        t.jobs.insert().values(
            app_id=app_id,
            id=job_id,
            type=kind,
            status="CREATED",
            creation_date=created,
            segment_id=segment_id,
            definition=definition,
            total_pieces=0,
            completed_pieces=0,
            failed_pieces=0,
            total_processed=0,
            total_failures=0,
            failures=[],
            cursor=cursor,
        )
    )


def get(conn: Connection, app_id: str, job_id: str, kind: str) -> Row:
    row = conn.execute(
        select(t.jobs).where(J.app_id == app_id, J.id == job_id, J.type == kind)
    ).first()
    if row is None:
        lister = "GetImportJobs" if kind == "IMPORT" else "GetExportJobs"
        raise NotFound(
            f"{kind.capitalize()} job {job_id!r} does not exist in application {app_id!r}; "
            f"{lister} lists its jobs",
            resource=job_id,
        )
    return row


def page(conn: Connection, app_id: str, kind: str, size: int, token: str | None,
         segment_id: str | None = None) -> tuple[list[Row], str | None]:  # fmt: skip
    """Jobs of one type, newest first (optionally only those of one segment)."""
    query = select(t.jobs).where(J.app_id == app_id, J.type == kind)
    if segment_id is not None:
        query = query.where(J.segment_id == segment_id)
    return keyset_page(conn, query, (J.creation_date, J.id), size, token, descending=True)


def active_for_segment(conn: Connection, app_id: str, segment_id: str) -> str | None:
    """The id of an import job still writing a new version of the segment, if any."""
    query = select(J.id).where(
        J.app_id == app_id,
        J.segment_id == segment_id,
        J.type == "IMPORT",
        J.status.in_(RUNNABLE),
    )
    return conn.execute(query.limit(1)).scalar()


# --- running jobs ------------------------------------------------------------------------


def claim(conn: Connection, owner: str, now: float, lease_s: float, limit: int) -> list[Row]:
    """Lease up to ``limit`` jobs that no live server holds, oldest first."""
    query = (
        select(t.jobs)
        .where(J.status.in_(RUNNABLE), or_(J.lease_until.is_(None), J.lease_until < now))
        .order_by(J.creation_date, J.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    for row in rows:
        conn.execute(
            update(t.jobs)
            .where(J.app_id == row.app_id, J.id == row.id)
            .values(lease_owner=owner, lease_until=now + lease_s)
        )
    return rows


def renew(conn: Connection, owner: str, keys: list[tuple[str, str]], until: float) -> None:
    if keys:
        conn.execute(
            update(t.jobs)
            .where(J.lease_owner == owner, or_(*[and_(J.app_id == a, J.id == i) for a, i in keys]))
            .values(lease_until=until)
        )


def release_all(conn: Connection, owner: str | None = None) -> None:
    """Give up leases: this server's on shutdown, everyone's when a SQLite store starts (a
    SQLite store has one server, so a lease left behind belongs to a server that died)."""
    query = update(t.jobs).where(J.status.in_(RUNNABLE))
    if owner is not None:
        query = query.where(J.lease_owner == owner)
    conn.execute(query.values(lease_owner=None, lease_until=None))


def advance(conn: Connection, app_id: str, job_id: str, owner: str, lease_until: float, **values) -> bool:
    """Write the job's progress (status, counters, failures, cursor) if this server still holds
    its lease; False when it does not (the caller must roll back what it wrote with it)."""
    done = conn.execute(
        update(t.jobs)
        .where(J.app_id == app_id, J.id == job_id, J.lease_owner == owner, J.status.in_(RUNNABLE))
        .values(lease_until=lease_until, **values)
    )
    return done.rowcount == 1


def finish(conn: Connection, app_id: str, job_id: str, owner: str, status: str, completed: str,
           **values) -> bool:  # fmt: skip
    done = conn.execute(
        update(t.jobs)
        .where(J.app_id == app_id, J.id == job_id, J.lease_owner == owner, J.status.in_(RUNNABLE))
        .values(status=status, completion_date=completed, lease_owner=None, lease_until=None, **values)
    )
    return done.rowcount == 1

