"""Access keys: rows of ``access_keys``, the secret sealed (see tidings.store.sealing)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from tidings.domain.common import now_iso
from tidings.store import schema as t


@dataclass(frozen=True)
class StoredKey:
    access_key_id: str
    name: str
    sealed_secret: str
    policy: str | None  # JSON text of the key's identity policy
    is_root: bool
    created: str


def add(conn: Connection, access_key_id: str, name: str, sealed_secret: str, policy: str | None, *, is_root: bool) -> None:
    row = {
        "access_key_id": access_key_id,
        "name": name,
        "secret": sealed_secret,
        "policy": policy,
        "is_root": is_root,
        "created": now_iso(),
    }
    conn.execute(t.access_keys.insert().values(row))


_k = t.access_keys.c
_COLUMNS = (_k.access_key_id, _k.name, _k.secret, _k.policy, _k.is_root, _k.created)


def all_keys(conn: Connection) -> list[StoredKey]:
    query = select(*_COLUMNS).order_by(_k.created, _k.name)
    return [StoredKey(*row) for row in conn.execute(query)]


def named(conn: Connection, name: str) -> StoredKey | None:
    row = conn.execute(select(*_COLUMNS).where(_k.name == name)).first()
    return StoredKey(*row) if row else None


def root(conn: Connection) -> StoredKey | None:
    row = conn.execute(select(*_COLUMNS).where(_k.is_root.is_(True)).order_by(_k.created).limit(1)).first()
    return StoredKey(*row) if row else None


def remove(conn: Connection, name: str) -> bool:
    """Delete the key called ``name``; False when there is none."""
    return conn.execute(delete(t.access_keys).where(t.access_keys.c.name == name)).rowcount > 0
