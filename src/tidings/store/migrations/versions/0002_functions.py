"""functions, their code and their queued event invocations

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("config", DOCUMENT, nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_size", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.String(length=36), nullable=False),
        sa.Column("last_modified", sa.String(length=32), nullable=False),
        sa.Column("reserved_concurrency", sa.Integer(), nullable=True),
        sa.Column("policy", DOCUMENT, nullable=True),
        sa.Column("tags", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_functions")),
    )
    op.create_table(
        "function_code",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("zip", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_function_code")),
    )
    op.create_table(
        "function_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("function_name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_function_events")),
    )
    with op.batch_alter_table("function_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_function_events_state_due_at"), ["state", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("function_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_function_events_state_due_at"))
    op.drop_table("function_events")
    op.drop_table("function_code")
    op.drop_table("functions")
