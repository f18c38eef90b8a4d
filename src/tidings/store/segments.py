"""Segments and their versions."""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, select, update

from tidings.domain.errors import NotFound
from tidings.store import schema as t
from tidings.store.sql import keyset_page

S = t.segments.c
V = t.segment_versions.c


def _missing(segment_id: str, version: int | None = None) -> NotFound:
    if version is not None:
        return NotFound(
            f"Segment {segment_id!r} has no version {version}; GetSegmentVersions lists its versions",
            resource=segment_id,
        )
    return NotFound(
        f"Segment {segment_id!r} does not exist in this application; GetSegments lists its segments",
        resource=segment_id,
    )


def create(
    conn: Connection, app_id: str, segment_id: str, created: str, doc: dict, member_list: str | None = None
) -> None:
    """A new segment at version 1; ``member_list`` holds an imported segment's endpoints."""
    conn.execute(t.segments.insert().values(app_id=app_id, id=segment_id, version=1, creation_date=created))
    conn.execute(
        t.segment_versions.insert().values(
            app_id=app_id, segment_id=segment_id, version=1, doc=doc, member_list=member_list
        )
    )


def add_version(
    conn: Connection, app_id: str, segment_id: str, version: int, doc: dict, member_list: str | None = None
) -> None:
    """Make ``doc`` the segment's latest version. Without ``member_list`` the new version keeps
    the endpoint list of the version before it (renaming an imported segment keeps its endpoints)."""
    if member_list is None:
        previous = select(V.member_list).where(
            V.app_id == app_id, V.segment_id == segment_id, V.version == version - 1
        )
        member_list = conn.execute(previous).scalar()
    conn.execute(
        update(t.segments).where(S.app_id == app_id, S.id == segment_id).values(version=version)
    )
    conn.execute(
        t.segment_versions.insert().values(
            app_id=app_id, segment_id=segment_id, version=version, doc=doc, member_list=member_list
        )
    )


def get(conn: Connection, app_id: str, segment_id: str, version: int | None = None) -> dict:
    """A segment version's document (the latest when ``version`` is None)."""
    if version is None:
        query = select(V.doc).join(
            t.segments, and_(S.app_id == V.app_id, S.id == V.segment_id, S.version == V.version)
        )
    else:
        query = select(V.doc).where(V.version == version)
    query = query.where(V.app_id == app_id, V.segment_id == segment_id)
    doc = conn.execute(query).scalar()
    if doc is None:
        if version is not None and exists(conn, app_id, segment_id):
            raise _missing(segment_id, version)
        raise _missing(segment_id)
    return doc


def exists(conn: Connection, app_id: str, segment_id: str, version: int | None = None) -> bool:
    query = select(S.version).where(S.app_id == app_id, S.id == segment_id)
    latest = conn.execute(query).scalar()
    return latest is not None and (version is None or 1 <= version <= latest)


def page(conn: Connection, app_id: str, size: int, token: str | None):
    query = (
        select(V.doc, S.creation_date, S.id)
        .join(t.segments, and_(S.app_id == V.app_id, S.id == V.segment_id, S.version == V.version))
        .where(S.app_id == app_id)
    )
    rows, next_token = keyset_page(conn, query, (S.creation_date, S.id), size, token)
    return [row.doc for row in rows], next_token


def versions_page(conn: Connection, app_id: str, segment_id: str, size: int, token: str | None):
    if not exists(conn, app_id, segment_id):
        raise _missing(segment_id)
    query = select(V.doc, V.version).where(V.app_id == app_id, V.segment_id == segment_id)
    rows, next_token = keyset_page(conn, query, (V.version,), size, token)
    return [row.doc for row in rows], next_token


def delete_segment(conn: Connection, app_id: str, segment_id: str) -> None:
    lists = select(V.member_list).where(
        V.app_id == app_id, V.segment_id == segment_id, V.member_list.is_not(None)
    )
    M = t.segment_members.c
    conn.execute(delete(t.segment_members).where(M.app_id == app_id, M.list_id.in_(lists)))
    conn.execute(delete(t.segment_versions).where(V.app_id == app_id, V.segment_id == segment_id))
    conn.execute(delete(t.segments).where(S.app_id == app_id, S.id == segment_id))
