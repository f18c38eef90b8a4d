"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from tests.services import migrated_store
from tidings.store import schema
from tidings.store.db import Database
from tidings.store.migrate import alembic_config, upgrade
from tidings.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> Iterator[Database]:
    with migrated_store(request.param, tmp_path, migrate=False) as db:
        yield db


def test_migrations_match_the_declared_schema(empty_db):
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent_and_reversible(empty_db):
    upgrade(empty_db)
    upgrade(empty_db)  # a second start changes nothing
    config = alembic_config(empty_db)
    with empty_db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with empty_db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        assert {t.name for t in metadata.sorted_tables} <= set(inspect(conn).get_table_names())


def test_endpoint_ids_sort_byte_by_byte(empty_db):
    # Keyset streams rely on the database ordering ids as Python does, whatever its collation.
    upgrade(empty_db)
    ids = ["_x", "1", "a", "A", "b", "B", "e", "\u00e9", "Z"]
    with empty_db.engine.begin() as conn:
        conn.execute(
            schema.endpoints.insert(),
            [
                {"app_id": "a", "id": i, "endpoint_status": "ACTIVE", "opt_out": "NONE", "cohort_id": 0,
                 "creation_date": "x", "effective_date": "x", "doc": {}}
                for i in ids
            ],
        )  # fmt: skip
        ordered = conn.execute(select(schema.endpoints.c.id).order_by(schema.endpoints.c.id)).scalars().all()
    assert ordered == sorted(ids, key=lambda i: i.encode())
