"""Letter batches: many gifts' letters generated in one go, as a job on the queue.

This module is the one place in the letters package that commits by itself:
:func:`run_batch` commits once per gift (its letters, numbered, and the batch's progress in
one transaction), so that any app instance can show progress and a crash loses at most the
gift being rendered, whose numbers are then given again: no gaps, no letter twice.
Everything else here flushes; the caller commits.

:func:`start_batch` queues the job ``letters.batch`` (see :mod:`ceroc_donations.jobs`).
A batch whose job was lost (worker killed, queue emptied) is found by
:func:`resume_lost_batches`, which a consumer runs when it starts and once a minute.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, or_, select, update

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.jobs import queue
from ceroc_donations.letters.archive import generate_thank_you
from ceroc_donations.letters.data import MODES, check_batch_paper
from ceroc_donations.letters.models import Letter, LetterBatch

LOG = logging.getLogger(__name__)


def create_batch(
    contribution_ids: Iterable[int],
    *,
    mode: str = "joint",
    paper: str = "auto",
    by: User | None,
) -> LetterBatch:
    """A queued batch of the given gifts' letters. The caller commits, then starts it.

    *paper*: ``auto`` (each letter on its donor's paper), ``a4`` or ``letter`` for all.
    """
    if mode not in MODES:
        raise Invalid({"mode": gettext("Choose one letter for all co-donors or one letter each.")})
    check_batch_paper(paper)
    ids = list(dict.fromkeys(int(i) for i in contribution_ids))
    if not ids:
        raise Invalid({"ids": gettext("Tick at least one gift.")})
    found = {
        c.id: c
        for c in db.session.execute(select(Contribution).where(Contribution.id.in_(ids))).scalars()
    }
    bad = [
        str(i)
        for i in ids
        if i not in found or found[i].voided or found[i].thank_status == "do_not_acknowledge"
    ]
    if bad:
        raise Invalid(
            {
                "ids": gettext(
                    "These gifts cannot get a letter (void, unknown or “do not "
                    "acknowledge”): %(ids)s.",
                    ids=", ".join(bad),
                )
            }
        )
    ordered = sorted(found.values(), key=lambda c: (c.received_on, c.id))
    batch = LetterBatch(
        status="queued",
        mode=mode,
        paper=paper,
        total=len(ordered),
        done=0,
        contribution_ids_json=json.dumps([c.id for c in ordered]),
        letter_ids_json="[]",
        created_by_id=by.id if by else None,
    )
    db.session.add(batch)
    db.session.flush()
    audit.log(
        by,
        "letter_batch.created",
        "letter_batch",
        batch.id,
        after={"total": batch.total, "mode": mode, "paper": paper},
    )
    return batch


def start_batch(batch_id: int) -> None:
    """Queue the committed batch's job. Call it with the id, after the commit.

    If the queue cannot be reached the batch is marked failed (and committed), with a
    message for people; it can be started again with :func:`restart_batch`.
    """
    try:
        queue.enqueue("letters.batch", batch_id)
    except Exception:  # noqa: BLE001 - the queue's own error is logged, people get a message
        LOG.exception("letter batch %s could not be queued", batch_id)
        db.session.rollback()
        db.session.execute(
            update(LetterBatch)
            .where(LetterBatch.id == batch_id, LetterBatch.status == "queued")
            .values(
                status="failed",
                finished_at=utcnow(),
                error=gettext(
                    "The job queue could not be reached. Nothing was made; start the batch again."
                ),
            )
        )
        db.session.commit()


def restart_batch(batch: LetterBatch, *, by: User | None) -> None:
    """Queue a failed batch again: it goes on after the gifts already done. The caller commits,
    then calls :func:`start_batch`."""
    if batch.status != "failed":
        raise Conflict(gettext("Only a failed batch can be started again."))
    batch.status, batch.error, batch.claim, batch.finished_at = "queued", None, None, None
    db.session.flush()
    audit.log(by, "letter_batch.restarted", "letter_batch", batch.id, after={"done": batch.done})


def _stale_before():
    return utcnow() - timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])


def _claim(batch_id: int) -> str | None:
    """Take the batch for this job if it is queued, or running with a stale heartbeat
    (its job was interrupted). Commits. The claim token, or ``None`` if another job holds
    the batch or it is finished."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    now = utcnow()
    taken = db.session.execute(
        update(LetterBatch)
        .where(
            LetterBatch.id == batch_id,
            or_(
                LetterBatch.status == "queued",
                and_(
                    LetterBatch.status == "running",
                    or_(
                        LetterBatch.heartbeat_at.is_(None),
                        LetterBatch.heartbeat_at < _stale_before(),
                    ),
                ),
            ),
        )
        .values(
            status="running",
            claim=token,
            heartbeat_at=now,
            started_at=db.func.coalesce(LetterBatch.started_at, now),
            worker_pid=os.getpid(),
            attempts=LetterBatch.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return token if taken else None


class _Overtaken(Exception):
    """Another job took the batch over (this one was thought dead)."""


def _advance(batch_id: int, token: str, **values) -> None:
    """Write the batch's progress if this job still holds it; else raise :class:`_Overtaken`."""
    held = db.session.execute(
        update(LetterBatch)
        .where(LetterBatch.id == batch_id, LetterBatch.claim == token)
        .values(heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not held:
        raise _Overtaken()


def run_batch(
    batch_id: int,
    *,
    issued_on: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LetterBatch | None:
    """Generate a batch's letters, committing once per gift with the batch's progress.

    Resumes after the gifts already done. Returns ``None`` without doing anything when
    another job holds the batch or it is finished. On an error the batch is marked failed
    with a message for people, the traceback goes to the log, and the error is raised again.
    """
    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise LookupError(f"no letter batch {batch_id}")
    token = _claim(batch_id)
    if token is None:
        LOG.info("letter batch %s is finished or held by another job: skipped", batch_id)
        return None
    batch = db.session.get(LetterBatch, batch_id)
    by, mode, total, done = batch.created_by, batch.mode, batch.total, batch.done
    paper = batch.paper
    letter_ids = list(batch.letter_ids)
    if done:
        LOG.warning("letter batch %s resumed after %s of %s gifts", batch_id, done, total)
    cid = None
    try:
        for cid in batch.contribution_ids[done:]:
            c = db.session.get(Contribution, cid)
            made, _ = generate_thank_you(
                c, by=by, mode=mode, issued_on=issued_on, batch=batch, paper=paper
            )
            letter_ids += [m.id for m in made if m.id not in letter_ids]
            _advance(batch_id, token, done=done + 1, letter_ids_json=json.dumps(letter_ids))
            db.session.commit()
            done += 1
            if progress:
                progress(done, total)
        _advance(batch_id, token, status="done", finished_at=utcnow())
        db.session.commit()
    except _Overtaken:
        db.session.rollback()
        LOG.warning("letter batch %s was taken over by another job: this one stops", batch_id)
        return None
    except Exception as exc:
        db.session.rollback()
        LOG.exception("letter batch %s failed at contribution id %s", batch_id, cid)
        db.session.execute(
            update(LetterBatch)
            .where(LetterBatch.id == batch_id, LetterBatch.claim == token)
            .values(status="failed", finished_at=utcnow(), error=_failure_message(exc, cid))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        raise
    return db.session.get(LetterBatch, batch_id)


@queue.task("letters.batch")
def batch_job(batch_id: int) -> None:
    """The queued job: run the batch; a failure is on its row and in the log."""
    try:
        run_batch(batch_id)
    except Exception:  # noqa: BLE001, S110 - recorded on the batch row and logged by run_batch
        pass


@queue.every_minute("letters.resume_lost_batches")
def resume_lost_batches() -> list[int]:
    """Queue again the batches whose job was lost: queued or running, no heartbeat lately.

    A batch held by a process of this machine that no longer exists (a worker killed) is
    taken back at once, without waiting for its heartbeat to go stale. A batch queued twice
    is harmless: the second job finds it held or finished.
    """
    freed = _free_batches_of_dead_processes()
    stale = _stale_before()
    lost = list(
        db.session.execute(
            select(LetterBatch.id).where(
                or_(
                    and_(LetterBatch.status == "queued", LetterBatch.created_at < stale),
                    and_(
                        LetterBatch.status == "running",
                        or_(LetterBatch.heartbeat_at.is_(None), LetterBatch.heartbeat_at < stale),
                    ),
                )
            )
        ).scalars()
    )
    db.session.rollback()
    lost = list(dict.fromkeys(freed + lost))
    for batch_id in lost:
        LOG.warning("letter batch %s lost its job: queued again", batch_id)
        queue.enqueue("letters.batch", batch_id)
    return lost


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_batches_of_dead_processes() -> list[int]:
    """Put back in the queue (status ``queued``, no claim) the running batches claimed by a
    process of this machine that has died. Commits. If the process was alive after all,
    its next progress write finds the claim gone and it stops."""
    host = socket.gethostname()
    held = db.session.execute(
        select(LetterBatch.id, LetterBatch.claim).where(
            LetterBatch.status == "running", LetterBatch.claim.like(f"{host}:%")
        )
    ).all()
    freed = []
    for batch_id, claim in held:
        _, pid, _ = claim.rsplit(":", 2)
        if pid.isdigit() and not _process_exists(int(pid)):
            freed += [batch_id] * db.session.execute(
                update(LetterBatch)
                .where(LetterBatch.id == batch_id, LetterBatch.claim == claim)
                .values(status="queued", claim=None)
                .execution_options(synchronize_session=False)
            ).rowcount
    db.session.commit()
    return freed


def _failure_message(exc: Exception, cid: int | None) -> str:
    """What the batch page says: a rule's own message, or where to look; never a traceback."""
    if isinstance(exc, Conflict):
        return str(exc)
    c = db.session.get(Contribution, cid) if cid is not None else None
    return gettext(
        "The letter for %(ref)s could not be made. The details are in the server log.",
        ref=c.reference if c else "?",
    )


def estimate_seconds_left(
    done: int, total: int, first_done_at: datetime | None, now: datetime
) -> int | None:
    """Seconds left at the pace since the first gift was done; ``None`` while unknown.

    The first gift carries the start-up cost (fonts, stylesheets), so the pace is measured
    from its end: ``done - 1`` gifts in the time since. No estimate until at least one gift
    after the first is done, and none once every gift is done.
    """
    if first_done_at is None or done < 2 or done >= total:
        return None
    elapsed = (now - first_done_at).total_seconds()
    if elapsed <= 0:
        return None
    return math.ceil(elapsed / (done - 1) * (total - done))


def first_letter_at(batch: LetterBatch) -> datetime | None:
    """When the batch's first letter was made (read from the archive's rows)."""
    return db.session.execute(
        select(db.func.min(Letter.generated_at)).where(Letter.batch_id == batch.id)
    ).scalar()


def batch_eta_seconds(batch: LetterBatch) -> int | None:
    """Seconds left for a running batch (see :func:`estimate_seconds_left`)."""
    if batch.status != "running" or batch.done < 2:
        return None
    return estimate_seconds_left(batch.done, batch.total, first_letter_at(batch), utcnow())


def batch_letters(batch: LetterBatch) -> list[Letter]:
    """The batch's letters in print order."""
    ids = batch.letter_ids
    if not ids:
        return []
    by_id = {
        letter.id: letter
        for letter in db.session.execute(select(Letter).where(Letter.id.in_(ids))).scalars()
    }
    return [by_id[i] for i in ids if i in by_id]


def recent_batches(limit: int = 5) -> list[LetterBatch]:
    """The latest batches, newest first."""
    return list(
        db.session.execute(
            select(LetterBatch).order_by(LetterBatch.id.desc()).limit(limit)
        ).scalars()
    )


def running_batches() -> list[LetterBatch]:
    """The batches queued or running, oldest first (the queue page links to them)."""
    return list(
        db.session.execute(
            select(LetterBatch)
            .where(LetterBatch.status.in_(("queued", "running")))
            .order_by(LetterBatch.id)
        ).scalars()
    )
