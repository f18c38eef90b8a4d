"""send records: a batch's successes in one row, per-endpoint rows only where rules look them up

The ``deliveries`` table (one row per endpoint per activity, keyed by endpoint) becomes
``send_records``: the SUCCESS rows of a batch become one row listing their endpoint ids,
every other row stays one row per endpoint. Campaigns whose caps or local-time schedule (or
their app's caps) look sends up endpoint by endpoint are marked ``indexed_sends`` and their
rows copied into ``endpoint_sends``. The batches of finished activities are removed.

Revision ID: 0007
Revises: 0006
"""

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STAMP = sa.String(length=32)
ID = sa.String(length=64)
ENDPOINT_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
RECORD = "app_id, campaign_id, activity_id, treatment_id, status, reason, batch_id, at"


def _document(value):
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _looks_up_sends(campaign: dict, app_settings: dict) -> bool:
    """The rule of this revision (tidings.domain.schedules.keeps_sends_per_endpoint as it
    was): a Daily or Total cap of the campaign or its app (a campaign's 0 overrides the app's
    and means none), or a local-time schedule."""
    own, app = campaign.get("Limits") or {}, app_settings.get("Limits") or {}

    def limit(name: str):
        value = own.get(name)
        return app.get(name) if value is None else value

    local_time = (campaign.get("Schedule") or {}).get("IsLocalTime")
    return bool(limit("Daily") or limit("Total") or app.get("Daily") or local_time)


def upgrade() -> None:
    op.create_table(
        "send_records",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("app_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("activity_id", ID, nullable=False),
        sa.Column("treatment_id", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("endpoint_ids", sa.Text(), nullable=False),
        sa.Column("endpoint_count", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_send_records")),
    )
    with op.batch_alter_table("send_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_send_records_app_id_at_activity_id"), ["app_id", "at", "activity_id"])
        batch_op.create_index(
            batch_op.f("ix_send_records_app_id_campaign_id_at_activity_id"),
            ["app_id", "campaign_id", "at", "activity_id"],
        )
    op.create_table(
        "endpoint_sends",
        sa.Column("app_id", ID, nullable=False),
        sa.Column("endpoint_id", ENDPOINT_ID, nullable=False),
        sa.Column("activity_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "endpoint_id", "activity_id", name=op.f("pk_endpoint_sends")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("endpoint_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_endpoint_sends_app_id_at"), ["app_id", "at"])
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("indexed_sends", sa.Boolean(), server_default=sa.false(), nullable=False))

    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    ids_of_group = "json_agg(endpoint_id)::text" if postgresql else "json_group_array(endpoint_id)"
    one_id = "json_build_array(endpoint_id)::text" if postgresql else "json_array(endpoint_id)"
    columns = f"{RECORD}, endpoint_ids, endpoint_count, endpoint"
    conn.execute(
        sa.text(
            f"INSERT INTO send_records ({columns}) "
            f"SELECT {RECORD}, {ids_of_group}, count(*), NULL FROM deliveries WHERE status = 'SUCCESS' "
            f"GROUP BY {RECORD}"
        )
    )
    conn.execute(
        sa.text(
            f"INSERT INTO send_records ({columns}) "
            f"SELECT {RECORD}, {one_id}, 1, endpoint FROM deliveries WHERE status <> 'SUCCESS'"
        )
    )
    # Which campaigns look their sends up per endpoint, by their latest version and app settings.
    settings = {
        row.id: _document(row.settings) or {} for row in conn.execute(sa.text("SELECT id, settings FROM apps"))
    }
    latest = conn.execute(
        sa.text(
            "SELECT c.app_id, c.id, v.doc FROM campaigns c JOIN campaign_versions v "
            "ON v.app_id = c.app_id AND v.campaign_id = c.id AND v.version = c.version"
        )
    )
    indexed = [
        (row.app_id, row.id)
        for row in latest
        if _looks_up_sends(_document(row.doc) or {}, settings.get(row.app_id, {}))
    ]
    for app_id, campaign_id in indexed:
        parameters = {"app_id": app_id, "campaign_id": campaign_id}
        conn.execute(
            sa.text("UPDATE campaigns SET indexed_sends = true WHERE app_id = :app_id AND id = :campaign_id"),
            parameters,
        )
        conn.execute(
            sa.text(
                "INSERT INTO endpoint_sends (app_id, endpoint_id, activity_id, campaign_id, status, at) "
                "SELECT app_id, endpoint_id, activity_id, campaign_id, status, at FROM deliveries "
                "WHERE app_id = :app_id AND campaign_id = :campaign_id"
            ),
            parameters,
        )
    conn.execute(
        sa.text(
            "DELETE FROM delivery_batches WHERE NOT EXISTS (SELECT 1 FROM activities a "
            "WHERE a.id = delivery_batches.activity_id AND a.state IN ('PENDING', 'RUNNING'))"
        )
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_app_id_campaign_id_at"))
    op.drop_table("deliveries")


def downgrade() -> None:
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
    conn = op.get_bind()
    each_id = (
        "json_array_elements_text(r.endpoint_ids::json) AS j(value)"
        if conn.dialect.name == "postgresql"
        else "json_each(r.endpoint_ids) AS j"
    )
    # A batch's successes named their endpoints only: the endpoint as stored now goes with them.
    conn.execute(
        sa.text(
            f"INSERT INTO deliveries ({RECORD}, endpoint_id, endpoint) "
            f"SELECT {', '.join('r.' + c.strip() for c in RECORD.split(','))}, j.value, "
            "coalesce(r.endpoint, (SELECT CAST(e.doc AS TEXT) FROM endpoints e WHERE e.app_id = r.app_id "
            f"AND e.id = j.value)) FROM send_records r, {each_id} WHERE true ON CONFLICT DO NOTHING"
        )
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("indexed_sends")
    with op.batch_alter_table("endpoint_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_sends_app_id_at"))
    op.drop_table("endpoint_sends")
    with op.batch_alter_table("send_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_send_records_app_id_campaign_id_at_activity_id"))
        batch_op.drop_index(batch_op.f("ix_send_records_app_id_at_activity_id"))
    op.drop_table("send_records")
