"""Tags of applications, segments and campaigns, keyed by the resource's canonical ARN."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from tidings.store import schema as t
from tidings.store.sql import upsert


def of(conn: Connection, arn: str) -> dict[str, str]:
    rows = conn.execute(select(t.tags.c.key, t.tags.c.value).where(t.tags.c.arn == arn))
    return {key: value for key, value in rows}


def put(conn: Connection, arn: str, app_id: str, tags: dict[str, str]) -> None:
    rows = [{"arn": arn, "key": k, "value": v, "app_id": app_id} for k, v in tags.items()]
    upsert(conn, t.tags, rows, ("arn", "key"))


def remove(conn: Connection, arn: str, keys: list[str]) -> None:
    conn.execute(delete(t.tags).where(t.tags.c.arn == arn, t.tags.c.key.in_(keys)))


def remove_all(conn: Connection, arn: str) -> None:
    conn.execute(delete(t.tags).where(t.tags.c.arn == arn))
