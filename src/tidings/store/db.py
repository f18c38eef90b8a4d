"""Connecting to the store and running transactions.

SQLite is the embedded default; ``postgresql://`` URLs use psycopg 3. Writes on SQLite
start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing when a
read transaction tries to become a write transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

T = TypeVar("T")


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def normalize_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                self.url,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                self.url,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(tidings_write=True)
            with conn.begin():
                yield conn

    def transact(self, work: Callable[[Connection], T], attempts: int = 4) -> T:
        """Run ``work`` in a write transaction, retrying when a concurrent writer won a race
        (a duplicate key on insert, a serialization failure or a lock timeout)."""
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except (IntegrityError, OperationalError) as exc:
                if attempt == attempts - 1 or not _is_race(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raise unless the store answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


# What a concurrent writer winning a race looks like, by the driver's own error codes.
# PostgreSQL SQLSTATEs: unique_violation, serialization_failure, deadlock_detected,
# lock_not_available.
RACE_SQLSTATES = frozenset({"23505", "40001", "40P01", "55P03"})
# SQLite result codes: SQLITE_BUSY, SQLITE_LOCKED and their extended forms (the low byte),
# and the extended constraint codes of a duplicate primary key or unique value.
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE = 1555, 2067


def _is_race(exc: Exception) -> bool:
    driver_error = getattr(exc, "orig", None)
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in RACE_SQLSTATES
    code = getattr(driver_error, "sqlite_errorcode", None)
    if code is None:
        return False
    return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED) or code in (
        SQLITE_CONSTRAINT_PRIMARYKEY,
        SQLITE_CONSTRAINT_UNIQUE,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-8192")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("tidings_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
