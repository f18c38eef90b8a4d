"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# JSON text on SQLite, jsonb on PostgreSQL.
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("treatment_id", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("scheduled_start", sa.String(length=32), nullable=True),
        sa.Column("start", sa.String(length=32), nullable=True),
        sa.Column("end", sa.String(length=32), nullable=True),
        sa.Column("total_endpoint_count", sa.Integer(), nullable=True),
        sa.Column("successful_endpoint_count", sa.Integer(), nullable=True),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "campaign_id", "id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activities_app_id_campaign_id_scheduled_start"),
            ["app_id", "campaign_id", "scheduled_start"],
            unique=False,
        )

    op.create_table(
        "apps",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("creation_date", sa.String(length=32), nullable=False),
        sa.Column("settings", DOCUMENT, nullable=False),
        sa.Column("settings_modified", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_apps_creation_date_id"), ["creation_date", "id"], unique=False
        )

    op.create_table(
        "attribute_filters",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "kind", "pattern", name=op.f("pk_attribute_filters")),
    )
    op.create_table(
        "attribute_names",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "kind", "name", name=op.f("pk_attribute_names")),
    )
    op.create_table(
        "campaign_versions",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint(
            "app_id", "campaign_id", "version", name=op.f("pk_campaign_versions")
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("creation_date", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "endpoints",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("channel_type", sa.String(length=24), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("endpoint_status", sa.String(length=16), nullable=False),
        sa.Column("opt_out", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("creation_date", sa.String(length=32), nullable=False),
        sa.Column("effective_date", sa.String(length=32), nullable=False),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "id", name=op.f("pk_endpoints")),
    )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoints_app_id_address"), ["app_id", "address"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_endpoints_app_id_user_id"), ["app_id", "user_id"], unique=False
        )

    op.create_table(
        "segment_versions",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("segment_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint(
            "app_id", "segment_id", "version", name=op.f("pk_segment_versions")
        ),
    )
    op.create_table(
        "segments",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("creation_date", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "id", name=op.f("pk_segments")),
    )
    op.create_table(
        "tags",
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("arn", "key", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_app_id"), ["app_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_app_id"))

    op.drop_table("tags")
    op.drop_table("segments")
    op.drop_table("segment_versions")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoints_app_id_user_id"))
        batch_op.drop_index(batch_op.f("ix_endpoints_app_id_address"))

    op.drop_table("endpoints")
    op.drop_table("campaigns")
    op.drop_table("campaign_versions")
    op.drop_table("attribute_names")
    op.drop_table("attribute_filters")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apps_creation_date_id"))

    op.drop_table("apps")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_app_id_campaign_id_scheduled_start"))

    op.drop_table("activities")
