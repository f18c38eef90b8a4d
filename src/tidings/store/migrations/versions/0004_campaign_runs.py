"""campaign runs: schedules, activities with checkpoints, delivery batches and records,
events, event streams and webhook signing secrets

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ENDPOINT_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
STAMP = sa.String(length=32)
ID = sa.String(length=64)


def upgrade() -> None:
    # Nothing wrote activities before campaign runs existed, so the table is rebuilt.
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_app_id_campaign_id_scheduled_start"))
    op.drop_table("activities")
    op.create_table(
        "activities",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("campaign_version", sa.Integer(), nullable=False),
        sa.Column("treatment_id", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("scheduled_start", STAMP, nullable=False),
        sa.Column("start", STAMP, nullable=True),
        sa.Column("end", STAMP, nullable=True),
        sa.Column("total_endpoint_count", sa.Integer(), nullable=False),
        sa.Column("successful_endpoint_count", sa.Integer(), nullable=False),
        sa.Column("failed_endpoint_count", sa.Integer(), nullable=False),
        sa.Column("cursor", ENDPOINT_ID, nullable=True),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("wave_from", STAMP, nullable=True),
        sa.Column("wave_until", STAMP, nullable=True),
        sa.Column("next_wave_at", STAMP, nullable=True),
        sa.Column("batch_count", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("metrics", DOCUMENT, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "campaign_id", "id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activities_app_id_campaign_id_scheduled_start"),
            ["app_id", "campaign_id", "scheduled_start"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_activities_state"), ["state"], unique=False)

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_run_at", STAMP, nullable=True))
        batch_op.create_index(batch_op.f("ix_campaigns_next_run_at"), ["next_run_at"], unique=False)

    op.create_table(
        "delivery_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("activity_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("endpoint_ids", DOCUMENT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_batches")),
    )
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_batches_activity_id_state"), ["activity_id", "state"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("endpoint_id", ENDPOINT_ID, nullable=False),
        sa.Column("activity_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("treatment_id", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("app_id", "endpoint_id", "activity_id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_app_id_campaign_id_at"), ["app_id", "campaign_id", "at"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", ID, nullable=False),
        sa.Column("endpoint_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("timestamp", STAMP, nullable=False),
        sa.Column("arrival", STAMP, nullable=False),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_app_id_event_type_timestamp"), ["app_id", "event_type", "timestamp"], unique=False
        )

    op.create_table(
        "event_streams",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("doc", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_event_streams")),
    )
    op.create_table(
        "signing_secrets",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_signing_secrets")),
    )


def downgrade() -> None:
    op.drop_table("signing_secrets")
    op.drop_table("event_streams")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_app_id_event_type_timestamp"))
    op.drop_table("events")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_app_id_campaign_id_at"))
    op.drop_table("deliveries")
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_batches_activity_id_state"))
    op.drop_table("delivery_batches")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_next_run_at"))
        batch_op.drop_column("next_run_at")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_state"))
        batch_op.drop_index(batch_op.f("ix_activities_app_id_campaign_id_scheduled_start"))
    op.drop_table("activities")
    op.create_table(
        "activities",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("treatment_id", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("scheduled_start", STAMP, nullable=True),
        sa.Column("start", STAMP, nullable=True),
        sa.Column("end", STAMP, nullable=True),
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
