"""Khmer occasion and purpose on gifts, Khmer description on funds

Revision ID: b7e2c4a91d05
Revises: 4ed7af1de7b8
Create Date: 2026-11-30 20:35:00

Nullable columns beside the English ones; an empty Khmer text means "use the English".
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e2c4a91d05"
down_revision = "4ed7af1de7b8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contribution") as batch:
        batch.add_column(sa.Column("occasion_km", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("purpose_km", sa.String(length=300), nullable=True))
    with op.batch_alter_table("fund") as batch:
        batch.add_column(sa.Column("description_km", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("fund") as batch:
        batch.drop_column("description_km")
    with op.batch_alter_table("contribution") as batch:
        batch.drop_column("purpose_km")
        batch.drop_column("occasion_km")
