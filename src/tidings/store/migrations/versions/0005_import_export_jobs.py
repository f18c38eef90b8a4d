"""import and export jobs; imported segments' member lists

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ENDPOINT_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
STAMP = sa.String(length=32)
ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("creation_date", STAMP, nullable=False),
        sa.Column("completion_date", STAMP, nullable=True),
        sa.Column("segment_id", ID, nullable=True),
        sa.Column("definition", DOCUMENT, nullable=False),
        sa.Column("total_pieces", sa.Integer(), nullable=False),
        sa.Column("completed_pieces", sa.Integer(), nullable=False),
        sa.Column("failed_pieces", sa.Integer(), nullable=False),
        sa.Column("total_processed", sa.Integer(), nullable=False),
        sa.Column("total_failures", sa.Integer(), nullable=False),
        sa.Column("failures", DOCUMENT, nullable=False),
        sa.Column("cursor", DOCUMENT, nullable=True),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_app_id_type_creation_date_id"),
            ["app_id", "type", "creation_date", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_jobs_app_id_segment_id"), ["app_id", "segment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    op.create_table(
        "segment_members",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("endpoint_id", ENDPOINT_ID, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "list_id", "endpoint_id", name=op.f("pk_segment_members")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("segment_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_list", ID, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment_versions", schema=None) as batch_op:
        batch_op.drop_column("member_list")
    op.drop_table("segment_members")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_app_id_segment_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_app_id_type_creation_date_id"))
    op.drop_table("jobs")
