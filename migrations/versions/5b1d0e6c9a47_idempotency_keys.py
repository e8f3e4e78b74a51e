"""API Idempotency-Keys for every create call, with the SHA-256 of the first request

Revision ID: 5b1d0e6c9a47
Revises: a5e8e835003d
Create Date: 2026-11-30 19:50:00

Keys already stored on contributions and expenses are carried over without a request
hash: a retry with one of them still gets the first entry back, as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "5b1d0e6c9a47"
down_revision = "a5e8e835003d"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("result_ids_json", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),
    )
    for scope, table in (("contributions", "contribution"), ("expenses", "expense")):
        op.execute(
            "INSERT INTO idempotency_key (scope, key, result_ids_json, created_at) "
            f"SELECT '{scope}', idempotency_key, '[' || CAST(id AS VARCHAR(20)) || ']', "
            f"created_at FROM {table} WHERE idempotency_key IS NOT NULL"
        )


def downgrade():
    op.drop_table("idempotency_key")
