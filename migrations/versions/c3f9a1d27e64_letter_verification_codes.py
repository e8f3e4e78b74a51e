"""Letter verification: the code, the link of its QR code, the amount issued for

Revision ID: c3f9a1d27e64
Revises: d4a1f0c7e2b8
Create Date: 2026-11-30 22:40:00

Letters made before have no code (their PDFs have no QR code): the columns stay empty.
"""

import sqlalchemy as sa
from alembic import op

revision = "c3f9a1d27e64"
down_revision = "d4a1f0c7e2b8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("letter") as batch:
        batch.add_column(sa.Column("verify_code", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("verify_url", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("amount_minor", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.create_index("ix_letter_verify_code", ["verify_code"], unique=True)


def downgrade():
    with op.batch_alter_table("letter") as batch:
        batch.drop_index("ix_letter_verify_code")
        batch.drop_column("currency")
        batch.drop_column("amount_minor")
        batch.drop_column("verify_url")
        batch.drop_column("verify_code")
