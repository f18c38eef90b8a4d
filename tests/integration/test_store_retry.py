"""Database.transact retries a write that lost a race to a concurrent writer, judged by the
driver's error codes, and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from tests.services import BACKENDS, migrated_store
from tidings.store import schema as t


def _app(app_id: str, name: str | None = "a") -> dict:
    return {
        "id": app_id,
        "name": name,
        "creation_date": "2026-12-04T00:00:00.000Z",
        "settings": {},
        "settings_modified": "2026-12-04T00:00:00.000Z",
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_duplicate_key_is_retried_and_a_broken_row_is_not(backend, tmp_path):
    with migrated_store(backend, tmp_path) as db:
        db.transact(lambda conn: conn.execute(insert(t.apps).values(**_app("taken"))))
        attempts: list[str] = []

        def insert_once_the_race_is_seen(conn):
            # The first attempt loses the race for "taken"; the retry picks another id.
            app_id = "taken" if not attempts else "free"
            attempts.append(app_id)
            conn.execute(insert(t.apps).values(**_app(app_id)))
            return app_id

        assert db.transact(insert_once_the_race_is_seen) == "free"
        assert attempts == ["taken", "free"]

        tries = []

        def missing_name(conn):
            tries.append(1)
            # The error's text quotes the values, and these read like a race: only the
            # driver's error code tells that a NOT NULL violation is not one.
            conn.execute(insert(t.apps).values(**_app("duplicate key: database is locked", name=None)))

        with pytest.raises(IntegrityError):
            db.transact(missing_name)
        assert len(tries) == 1
