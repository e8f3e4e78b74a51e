"""A keyed hash chain: each event stores an HMAC-SHA-256 of its content and its predecessor.

The key (``AUDIT_KEY``) lives outside the database, so someone holding only the database
cannot rewrite an event and recompute the chain. The head of the chain (last sequence
number and hash), kept elsewhere, proves later that nothing was cut off the end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.database import next_values, utcnow
from ceroc_donations.extensions import db

GENESIS = "0" * 64


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not serialisable: {type(value)!r}")


def dumps(data) -> str | None:
    if data is None:
        return None
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=_default)


def _key() -> bytes:
    key = current_app.config.get("AUDIT_KEY")
    if not key:
        raise RuntimeError("AUDIT_KEY is not set: the audit chain cannot be written or checked")
    return str(key).encode()


def event_content(event: AuditEvent) -> bytes:
    """What the hash covers: the event's fields and the previous event's hash."""
    return json.dumps(
        [
            event.seq,
            event.at.isoformat(timespec="microseconds"),
            event.actor_id,
            event.actor,
            event.action,
            event.entity_type,
            event.entity_id,
            event.before_json,
            event.after_json,
            event.prev_hash,
        ],
        ensure_ascii=False,
    ).encode()


def event_hash(event: AuditEvent) -> str:
    """HMAC-SHA-256, under the audit key, of :func:`event_content`."""
    return hmac.new(_key(), event_content(event), hashlib.sha256).hexdigest()


#: The kinds of record the audit page filters by.
ENTITY_TYPES = ("contribution", "expense", "donor", "fund", "user", "claim")


def recent(limit: int, *, before: int | None = None, entity: str | None = None) -> list[AuditEvent]:
    """Up to *limit* events, newest first: older than sequence *before*, of type *entity*."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(AuditEvent.seq < before)
    if entity is not None:
        stmt = stmt.where(AuditEvent.entity_type == entity)
    return list(db.session.execute(stmt).scalars())


def log(
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    *,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append an event to the chain. The caller commits."""
    return log_many(actor, [(action, entity_type, entity_id, before, after)])[0]


def log_many(
    actor: User | None,
    entries: list[tuple[str, str, int | None, dict | None, dict | None]],
) -> list[AuditEvent]:
    """Append several events at once, as :func:`log` would one by one: *entries* are
    ``(action, entity_type, entity_id, before, after)``. One counter bump, one look-up
    and one insert for all (a batch of letters writes hundreds). The caller commits."""
    if not entries:
        return []
    seqs = next_values("audit", len(entries))
    prev = db.session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seqs[0] - 1)).scalar()
    prev = prev or GENESIS
    at = utcnow()
    events = []
    for seq, (action, entity_type, entity_id, before, after) in zip(seqs, entries, strict=True):
        event = AuditEvent(
            seq=seq,
            at=at,
            actor_id=actor.id if actor is not None else None,
            actor=actor.email if actor is not None else "system",
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before_json=dumps(before),
            after_json=dumps(after),
            prev_hash=prev,
        )
        event.hash = prev = event_hash(event)
        events.append(event)
    db.session.add_all(events)
    db.session.flush()
    return events


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    message: str


@dataclass(frozen=True)
class AuditHead:
    """The last event of the chain: written as ``SEQ:HASH``; ``0:000…`` for an empty chain."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditHead:
        """Read ``SEQ:HASH``; :class:`ValueError` says what is wrong."""
        match = re.fullmatch(r"\s*(\d{1,18}):([0-9a-fA-F]{64})\s*", text or "")
        if match is None:
            raise ValueError("expected SEQ:HASH: a number, a colon and 64 hex digits")
        return cls(int(match.group(1)), match.group(2).lower())


def head() -> AuditHead:
    """The head of the chain, for the admin page, ``verify-audit`` and the transparency report."""
    row = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return AuditHead(row.seq, row.hash) if row is not None else AuditHead(0, GENESIS)


def verify(expect_head: AuditHead | None = None) -> tuple[int, list[AuditProblem]]:
    """Walk the chain; return the number of events checked and every problem found.

    With *expect_head* (a head kept elsewhere earlier), the chain must still hold that
    event with that hash: a chain cut short or rewritten before it fails.
    """
    problems: list[AuditProblem] = []
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    seen_at_head: str | None = GENESIS if expect_head is not None and expect_head.seq == 0 else None
    for event in db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        count += 1
        if expect_head is not None and event.seq == expect_head.seq:
            seen_at_head = event.hash
        if event.seq != expected_seq:
            problems.append(
                AuditProblem(
                    expected_seq,
                    _(
                        "events %(first)d–%(last)d are missing (removed)",
                        first=expected_seq,
                        last=event.seq - 1,
                    ),
                )
            )
        if event.prev_hash != prev_hash:
            problems.append(AuditProblem(event.seq, _("link to the previous event is broken")))
        if event_hash(event) != event.hash:
            problems.append(AuditProblem(event.seq, _("content was altered after it was written")))
        prev_hash = event.hash
        expected_seq = event.seq + 1
    from ceroc_donations.database import current_value

    last = current_value("audit")
    if last >= expected_seq:
        problems.append(
            AuditProblem(
                expected_seq,
                _(
                    "events %(first)d–%(last)d at the end of the chain are missing",
                    first=expected_seq,
                    last=last,
                ),
            )
        )
    if expect_head is not None:
        if seen_at_head is None and expected_seq <= expect_head.seq:
            problems.append(
                AuditProblem(
                    expect_head.seq,
                    _(
                        "the chain ends at event %(last)d, before the head you kept "
                        "(%(seq)d): events were cut off the end",
                        last=expected_seq - 1,
                        seq=expect_head.seq,
                    ),
                )
            )
        elif seen_at_head is None:
            problems.append(
                AuditProblem(expect_head.seq, _("the event of the head you kept is missing"))
            )
        elif seen_at_head != expect_head.hash:
            problems.append(
                AuditProblem(expect_head.seq, _("this event differs from the head you kept"))
            )
    return count, problems
