"""Local services the tests use for real, and how a test finds (or misses) them.

PostgreSQL is expected on 127.0.0.1:5432 with trust auth. On CI (CI=true) a missing
service fails the run; elsewhere the tests that need it skip and say how to start it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_postgres() -> None:
    if port_open(PG_HOST, PG_PORT):
        return
    message = f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}; start it with: {PG_START}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _admin_connect():
    import psycopg

    last = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", autocommit=True)
        except psycopg.OperationalError as exc:
            last = exc
    raise RuntimeError(f"cannot connect to PostgreSQL as postgres or root: {last}")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database for one test session, dropped afterwards."""
    require_postgres()
    name = f"tidings_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as admin:
        user = admin.info.user
        # A language collation, as most deployments have: ordering must not depend on it.
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ("sqlite", "postgresql")


def backend_of(database_url: str) -> str:
    """Which of BACKENDS a database URL is."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@contextmanager
def store_url(backend: str, folder) -> Iterator[str]:
    """A database URL of an empty store: a SQLite file in ``folder``, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'tidings.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@contextmanager
def migrated_store(backend: str, folder, *, migrate: bool = True):
    """An open store (``tidings.store.db.Database``) on ``backend``, migrated unless told not to."""
    from tidings.store.db import Database
    from tidings.store.migrate import upgrade

    with store_url(backend, folder) as url:
        db = Database(url)
        try:
            if migrate:
                upgrade(db)
            yield db
        finally:
            db.dispose()


def read_store(url: str, query):
    """``query(conn)`` in a read transaction on the store at ``url``: a test looking behind
    the API at what a server (perhaps a killed one) left in the database."""
    from tidings.store.db import Database

    db = Database(url)
    try:
        with db.read() as conn:
            return query(conn)
    finally:
        db.dispose()
