"""A hash-chained audit trail: each event stores the SHA-256 of its content and its predecessor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.database import next_value, utcnow
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


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's content and the previous event's hash."""
    content = json.dumps(
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
    )
    return hashlib.sha256(content.encode()).hexdigest()


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
    seq = next_value("audit")
    prev = db.session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)).scalar()
    event = AuditEvent(
        seq=seq,
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor=actor.email if actor is not None else "system",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before_json=dumps(before),
        after_json=dumps(after),
        prev_hash=prev or GENESIS,
    )
    event.hash = event_hash(event)
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    message: str


def verify() -> tuple[int, list[AuditProblem]]:
    """Walk the chain; return the number of events checked and every problem found."""
    problems: list[AuditProblem] = []
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    for event in db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        count += 1
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
    return count, problems
