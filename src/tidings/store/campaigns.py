"""Campaigns, their versions and their activities."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.engine import Row

from tidings.domain.common import format_date
from tidings.domain.errors import NotFound
from tidings.store import schema as t
from tidings.store.sql import keyset_page

C = t.campaigns.c
V = t.campaign_versions.c
A = t.activities.c


def _missing(campaign_id: str, version: int | None = None) -> NotFound:
    if version is not None:
        return NotFound(
            f"Campaign {campaign_id!r} has no version {version}; GetCampaignVersions lists its versions",
            resource=campaign_id,
        )
    return NotFound(
        f"Campaign {campaign_id!r} does not exist in this application; GetCampaigns lists its campaigns",
        resource=campaign_id,
    )


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_date(moment)


def create(
    conn: Connection, app_id: str, campaign_id: str, status: str, doc: dict, next_run: datetime | None
) -> None:
    conn.execute(
        t.campaigns.insert().values(
            app_id=app_id,
            id=campaign_id,
            version=1,
            status=status,
            creation_date=doc["CreationDate"],
            next_run_at=_stamp(next_run),
        )
    )
    conn.execute(t.campaign_versions.insert().values(app_id=app_id, campaign_id=campaign_id, version=1, doc=doc))


def head(conn: Connection, app_id: str, campaign_id: str, *, lock: bool = False) -> Row:
    """The campaign row: id, latest version, status."""
    query = select(t.campaigns).where(C.app_id == app_id, C.id == campaign_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise _missing(campaign_id)
    return row


def add_version(
    conn: Connection,
    app_id: str,
    campaign_id: str,
    status: str,
    doc: dict,
    next_run: datetime | None,
    *,
    keep_next_run: bool = False,
) -> None:
    """A new version; ``keep_next_run`` leaves the next run already planned as it is."""
    values: dict = {"version": doc["Version"], "status": status}
    if not keep_next_run:
        values["next_run_at"] = _stamp(next_run)
    conn.execute(update(t.campaigns).where(C.app_id == app_id, C.id == campaign_id).values(**values))
    conn.execute(
        t.campaign_versions.insert().values(
            app_id=app_id, campaign_id=campaign_id, version=doc["Version"], doc=doc
        )
    )


def get(conn: Connection, app_id: str, campaign_id: str, version: int | None = None) -> tuple[dict, str]:
    """A campaign version's document (the latest when ``version`` is None) and the campaign's status."""
    row = head(conn, app_id, campaign_id)
    wanted = row.version if version is None else version
    query = select(V.doc).where(V.app_id == app_id, V.campaign_id == campaign_id, V.version == wanted)
    doc = conn.execute(query).scalar()
    if doc is None:
        raise _missing(campaign_id, version)
    return doc, row.status


def page(conn: Connection, app_id: str, size: int, token: str | None):
    query = (
        select(V.doc, C.status, C.creation_date, C.id)
        .join(t.campaigns, and_(C.app_id == V.app_id, C.id == V.campaign_id, C.version == V.version))
        .where(C.app_id == app_id)
    )
    rows, next_token = keyset_page(conn, query, (C.creation_date, C.id), size, token)
    return [(row.doc, row.status) for row in rows], next_token


def versions_page(conn: Connection, app_id: str, campaign_id: str, size: int, token: str | None):
    status = head(conn, app_id, campaign_id).status
    query = select(V.doc, V.version).where(V.app_id == app_id, V.campaign_id == campaign_id)
    rows, next_token = keyset_page(conn, query, (V.version,), size, token)
    return [(row.doc, status) for row in rows], next_token


def activities_page(conn: Connection, app_id: str, campaign_id: str, size: int, token: str | None):
    head(conn, app_id, campaign_id)
    query = select(t.activities).where(A.app_id == app_id, A.campaign_id == campaign_id)
    # Newest run first, as a user watching a campaign wants to see.
    return keyset_page(conn, query, (A.scheduled_start, A.id), size, token, descending=True)


def latest_documents(conn: Connection, app_id: str) -> list[dict]:
    """The latest version of each of the app's campaigns."""
    query = (
        select(V.doc)
        .join(t.campaigns, and_(C.app_id == V.app_id, C.id == V.campaign_id, C.version == V.version))
        .where(C.app_id == app_id)
    )
    return list(conn.execute(query).scalars())


def using_segment(conn: Connection, app_id: str, segment_id: str) -> list[str]:
    """Campaigns whose latest version sends to the segment."""
    query = (
        select(C.id, V.doc)
        .join(t.campaign_versions, and_(C.app_id == V.app_id, C.id == V.campaign_id, C.version == V.version))
        .where(C.app_id == app_id)
    )
    return [row.id for row in conn.execute(query) if row.doc.get("SegmentId") == segment_id]


def set_status(conn: Connection, app_id: str, campaign_ids: list[str], status: str) -> None:
    """Also cancels any planned run: only SCHEDULED and PENDING_NEXT_RUN campaigns have one."""
    if campaign_ids:
        conn.execute(
            update(t.campaigns)
            .where(C.app_id == app_id, C.id.in_(campaign_ids))
            .values(status=status, next_run_at=None)
        )


def delete_campaign(conn: Connection, app_id: str, campaign_id: str) -> None:
    for table in (t.send_records, t.endpoint_sends, t.delivery_batches, t.activities, t.campaign_versions):
        conn.execute(delete(table).where(table.c.app_id == app_id, table.c.campaign_id == campaign_id))
    conn.execute(delete(t.campaigns).where(C.app_id == app_id, C.id == campaign_id))
