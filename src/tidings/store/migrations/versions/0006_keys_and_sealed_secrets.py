"""access keys; webhook signing secrets sealed, with a previous secret during rotation

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STAMP = sa.String(length=32)
ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),  # sealed (tidings.store.sealing)
        sa.Column("policy", sa.Text(), nullable=True),  # an IAM identity policy, JSON text
        sa.Column("is_root", sa.Boolean(), nullable=False),
        sa.Column("created", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_access_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_access_keys_name")),
    )
    with op.batch_alter_table("signing_secrets", schema=None) as batch_op:
        batch_op.alter_column("secret", type_=sa.Text(), existing_type=sa.String(length=128))
        batch_op.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_until", STAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_secrets", schema=None) as batch_op:
        batch_op.drop_column("previous_until")
        batch_op.drop_column("previous_secret")
        batch_op.alter_column("secret", type_=sa.String(length=128), existing_type=sa.Text())
    op.drop_table("access_keys")
