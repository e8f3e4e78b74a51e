"""Paper per donor (auto, a4, letter), per batch, and the paper each letter was laid out on

Revision ID: d4a1f0c7e2b8
Revises: b7e2c4a91d05
Create Date: 2026-11-30 22:30:00

Letters made before this were all laid out on A4.
"""

import sqlalchemy as sa
from alembic import op

revision = "d4a1f0c7e2b8"
down_revision = "b7e2c4a91d05"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("donor") as batch:
        batch.add_column(
            sa.Column("paper", sa.String(length=6), server_default="auto", nullable=False)
        )
    with op.batch_alter_table("letter_batch") as batch:
        batch.add_column(
            sa.Column("paper", sa.String(length=6), server_default="auto", nullable=False)
        )
    with op.batch_alter_table("letter") as batch:
        batch.add_column(
            sa.Column("paper", sa.String(length=6), server_default="a4", nullable=False)
        )
        batch.create_check_constraint("letter_paper", "paper IN ('a4', 'letter')")


def downgrade():
    with op.batch_alter_table("letter") as batch:
        batch.drop_constraint("letter_paper", type_="check")
        batch.drop_column("paper")
    with op.batch_alter_table("letter_batch") as batch:
        batch.drop_column("paper")
    with op.batch_alter_table("donor") as batch:
        batch.drop_column("paper")
