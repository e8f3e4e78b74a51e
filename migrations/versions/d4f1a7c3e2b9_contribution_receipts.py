"""A receipt file on gifts (cheque, transfer slip), as on expenses

Revision ID: d4f1a7c3e2b9
Revises: c3f9a1d27e64
Create Date: 2026-11-30 22:40:00

Nullable: most gifts have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "d4f1a7c3e2b9"
down_revision = "c3f9a1d27e64"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contribution") as batch:
        batch.add_column(sa.Column("receipt_path", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("receipt_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("receipt_mime", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("receipt_sha256", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("contribution") as batch:
        batch.drop_column("receipt_sha256")
        batch.drop_column("receipt_mime")
        batch.drop_column("receipt_name")
        batch.drop_column("receipt_path")
