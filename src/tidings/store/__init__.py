"""Persistence: SQLAlchemy Core tables, queries and Alembic migrations (SQLite, PostgreSQL)."""
