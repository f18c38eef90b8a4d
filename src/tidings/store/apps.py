"""Applications (Pinpoint projects) and their settings."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.engine import Row

from tidings.domain.errors import NotFound
from tidings.store import schema as t
from tidings.store.sql import keyset_page

# Every table that belongs to an application; DeleteApp empties them all.
_OWNED = (
    t.endpoints,
    t.attribute_names,
    t.attribute_filters,
    t.segment_versions,
    t.segment_members,
    t.segments,
    t.campaign_versions,
    t.campaigns,
    t.activities,
    t.delivery_batches,
    t.send_records,
    t.endpoint_sends,
    t.events,
    t.event_streams,
    t.signing_secrets,
    t.tags,
    t.jobs,
)


def insert(conn: Connection, app_id: str, name: str, created: str) -> None:
    conn.execute(
        t.apps.insert().values(
            id=app_id, name=name, creation_date=created, settings={}, settings_modified=created
        )
    )


def get(conn: Connection, app_id: str, *, lock: bool = False) -> Row:
    query = select(t.apps).where(t.apps.c.id == app_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(
            f"Application {app_id!r} does not exist; GetApps lists the applications there are",
            resource=app_id,
        )
    return row


def page(conn: Connection, size: int, token: str | None) -> tuple[list[Row], str | None]:
    keys = (t.apps.c.creation_date, t.apps.c.id)
    return keyset_page(conn, select(t.apps), keys, size, token)


def delete_with_contents(conn: Connection, app_id: str) -> None:
    for table in _OWNED:
        conn.execute(delete(table).where(table.c.app_id == app_id))
    conn.execute(delete(t.apps).where(t.apps.c.id == app_id))


def save_settings(conn: Connection, app_id: str, settings: dict, modified: str) -> None:
    conn.execute(
        update(t.apps)
        .where(t.apps.c.id == app_id)
        .values(settings=settings, settings_modified=modified)
    )
