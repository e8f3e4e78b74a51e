"""Password changes and resets; the audit chain keyed with an HMAC

Revision ID: a5e8e835003d
Revises: ccd03bc2ab85
Create Date: 2026-11-30 19:24:52.916745

The audit events written so far carry plain SHA-256 hashes. They are checked under the old
rule first (a broken chain stops the upgrade: keying it would hide what was done to it),
then every hash is recomputed as an HMAC under the audit key of this instance.
"""

import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a5e8e835003d"
down_revision = "ccd03bc2ab85"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _content(row, prev_hash: str) -> bytes:
    return json.dumps(
        [
            row.seq,
            row.at.isoformat(timespec="microseconds"),
            row.actor_id,
            row.actor,
            row.action,
            row.entity_type,
            row.entity_id,
            row.before_json,
            row.after_json,
            prev_hash,
        ],
        ensure_ascii=False,
    ).encode()


def _rechain(old, new) -> None:
    """Check the chain with *old* and rewrite it with *new* (both: content → hex digest)."""
    conn = op.get_bind()
    events = sa.table(
        "audit_event",
        sa.column("id", sa.Integer()),
        sa.column("seq", sa.BigInteger()),
        sa.column("at", sa.DateTime()),
        sa.column("actor_id", sa.Integer()),
        sa.column("entity_id", sa.Integer()),
        *(
            sa.column(name, sa.String())
            for name in (
                "actor", "action", "entity_type", "before_json", "after_json", "prev_hash", "hash"
            )
        ),
    )
    rows = conn.execute(sa.select(events).order_by(events.c.seq)).all()
    prev_old = prev_new = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq or row.prev_hash != prev_old:
            raise RuntimeError(
                f"Audit event {row.seq}: the chain is broken before this upgrade; "
                "run `flask verify-audit` on the old version and investigate first."
            )
        if old(_content(row, prev_old)) != row.hash:
            raise RuntimeError(
                f"Audit event {row.seq} was altered before this upgrade; "
                "run `flask verify-audit` on the old version and investigate first."
            )
        rekeyed = new(_content(row, prev_new))
        conn.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(prev_hash=prev_new, hash=rekeyed)
        )
        prev_old, prev_new = row.hash, rekeyed


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _hmac(content: bytes) -> str:
    from flask import current_app

    key = str(current_app.config["AUDIT_KEY"]).encode()
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def upgrade():
    _rechain(_sha256, _hmac)  # first: a tampered chain stops the upgrade before any change
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("reset_token_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reset_expires_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_user_reset_token_sha256"), ["reset_token_sha256"], unique=True
        )


def downgrade():
    _rechain(_hmac, _sha256)
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_reset_token_sha256"))
        batch_op.drop_column("reset_expires_at")
        batch_op.drop_column("reset_token_sha256")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("must_change_password")
