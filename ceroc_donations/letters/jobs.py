"""Letter batches: many gifts' letters generated in one go, as a job on the queue.

This module is the one place in the letters package that commits by itself:
:func:`run_batch` renders the letters in worker processes (``LETTER_BATCH_WORKERS``) and
commits them in groups (the first gift alone, then 2, 4, ... up to
``LETTER_BATCH_COMMIT_EVERY``), each group's letters, numbered, with the batch's progress in
one transaction, so that any app instance can show progress and a crash loses at most the
group being stored, whose numbers are then given again: no gaps, no letter twice.
Everything else here flushes; the caller commits.

:func:`start_batch` queues the job ``letters.batch`` (see :mod:`ceroc_donations.jobs`).
A batch whose job was lost (worker killed, queue emptied) is found by
:func:`resume_lost_batches`, which a consumer runs when it starts and once a minute.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import selectinload

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution, ContributionDonor
from ceroc_donations.book.service import Conflict, set_thank_statuses
from ceroc_donations.database import current_value, next_values, read_only, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.jobs import queue
from ceroc_donations.letters.archive import Rendered, letters_for, store_letters
from ceroc_donations.letters.data import MODES, check_batch_paper, recipient_groups, thank_you_data
from ceroc_donations.letters.models import Letter, LetterBatch, LetterTextVersion
from ceroc_donations.letters.texts import current_texts, version_for_letters, with_defaults
from ceroc_donations.letters.verification import verified
from ceroc_donations.rendering import LetterData

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
    """Generate a batch's letters, committing them in groups with the batch's progress.

    Resumes after the gifts already done. Returns ``None`` without doing anything when
    another job holds the batch or it is finished. On an error the batch is marked failed
    with a message for people, the traceback goes to the log, and the error is raised again.

    The letters render in ``LETTER_BATCH_WORKERS`` processes while this thread archives
    the ones before them (see :class:`_BatchRun`). *progress* is called with
    ``(done, total)`` for each gift once its group is committed.
    """
    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise LookupError(f"no letter batch {batch_id}")
    token = _claim(batch_id)
    if token is None:
        LOG.info("letter batch %s is finished or held by another job: skipped", batch_id)
        return None
    batch = db.session.get(LetterBatch, batch_id)
    if batch.done:
        LOG.warning(
            "letter batch %s resumed after %s of %s gifts", batch_id, batch.done, batch.total
        )
    run = _BatchRun(batch, token, issued_on or date.today(), progress)
    try:
        run.run()
    except _Overtaken:
        run.drop_pending()
        db.session.rollback()
        LOG.warning("letter batch %s was taken over by another job: this one stops", batch_id)
        return None
    except Exception as exc:
        run.drop_pending()
        db.session.rollback()
        LOG.exception("letter batch %s failed at contribution id %s", batch_id, run.cid)
        db.session.execute(
            update(LetterBatch)
            .where(LetterBatch.id == batch_id, LetterBatch.claim == token)
            .values(status="failed", finished_at=utcnow(), error=_failure_message(exc, run.cid))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        raise
    return db.session.get(LetterBatch, batch_id)


_pools: dict[int, Any] = {}


@atexit.register
def _stop_pools() -> None:
    """Stop the render workers before the interpreter is torn down under them."""
    while _pools:
        _pools.popitem()[1].shutdown()


def _render_pool(workers: int):
    """This process's pool of *workers* letter renderers, started on first use and kept."""
    pool = _pools.get(workers)
    if pool is None:
        from ceroc_donations.rendering.pool import RenderPool

        pool = _pools[workers] = RenderPool(workers)
    return pool


@dataclass
class _Planned:
    """A letter of the batch with the number the counter is expected to give it."""

    cid: int
    data: LetterData
    pdf: Future


@dataclass
class _Group:
    """Gifts whose letters are committed together, with their letters being rendered."""

    gifts: list[int]
    had_letters: set[int]
    version_id: int
    letters: list[_Planned] = field(default_factory=list)


class _BatchRun:
    """One job's run of a batch: letters are rendered ahead, archived in order.

    A group of gifts is *planned* in a read-only transaction: their letters get the
    numbers the counter will give next, and go to the render workers at once. While they
    render, this thread stores the group before (file, row, audit, progress; one commit).
    Storing takes the numbers for real, under the writers' lock, and checks the plan still
    holds: the same numbers, the same gifts already lettered, and, for each letter, the
    data read again equal to the data rendered. If another writer numbered a letter or
    changed a gift meanwhile, the group is planned and rendered again (after two misses,
    under the lock), so a letter's PDF is always the one its row describes. The write
    lock is held only while a group is stored, not while it renders.
    """

    def __init__(self, batch: LetterBatch, token: str, issued_on: date, progress) -> None:
        config = current_app.config
        self.batch_id, self.token, self.issued_on, self.progress = (
            batch.id, token, issued_on, progress,
        )  # fmt: skip
        self.by_id, self.mode, self.total = batch.created_by_id, batch.mode, batch.total
        self.paper = batch.paper
        self.gifts, self.done = batch.contribution_ids, batch.done
        self.letter_ids = list(batch.letter_ids)
        self.pool = _render_pool(max(0, int(config["LETTER_BATCH_WORKERS"])))
        self.commit_every = max(1, int(config["LETTER_BATCH_COMMIT_EVERY"]))
        self.size = 1  # the first group alone: progress shows at once; then 2, 4, ...
        self.pending: deque[_Group] = deque()
        self.planned_to = self.done  # gifts planned so far
        self.next_number: int | None = None
        self.cid: int | None = None  # the gift being stored (for the failure message)
        self.misses = 0

    def run(self) -> None:
        by = db.session.get(User, self.by_id) if self.by_id else None
        version_for_letters(by)  # the shipped texts become version 1 if none is saved yet
        db.session.commit()
        while self.done < self.total:
            if self.misses >= 2:  # others keep numbering: plan and store under the lock
                group = self._plan(locked=True)
                if not self._store(group):  # PostgreSQL: numbered before our lock was taken
                    db.session.rollback()
                    self.drop_pending()
                    continue
            else:
                while len(self.pending) < 2 and self.planned_to < self.total:
                    self.pending.append(self._plan(locked=False))
                group = self.pending.popleft()
                if not self._store(group):
                    db.session.rollback()
                    LOG.info("letter batch %s: letters changed while rendering, rendered again",
                             self.batch_id)  # fmt: skip
                    self.drop_pending()
                    self.misses += 1
                    continue
            db.session.commit()
            self.misses = 0
            before, self.done = self.done, self.done + len(group.gifts)
            self.size = min(self.size * 2, self.commit_every)
            if self.progress:
                for done in range(before + 1, self.done + 1):
                    self.progress(done, self.total)
        _advance(self.batch_id, self.token, status="done", finished_at=utcnow())
        db.session.commit()

    def drop_pending(self) -> None:
        """Forget the groups planned ahead (their renders are cancelled or ignored)."""
        for group in self.pending:
            for planned in group.letters:
                planned.pdf.cancel()
        self.pending.clear()
        self.planned_to = self.done
        self.next_number = None

    def _read(self, ids: list[int]) -> tuple[dict[int, Contribution], set[int]]:
        """The gifts with their donors, and which of them have letters already."""
        found = {
            c.id: c
            for c in db.session.execute(
                select(Contribution)
                .where(Contribution.id.in_(ids))
                .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor))
            ).scalars()
        }
        had = set(
            db.session.execute(
                select(Letter.contribution_id).where(Letter.contribution_id.in_(ids)).distinct()
            ).scalars()
        )
        return found, had

    def _plan(self, *, locked: bool) -> _Group:
        """The next group of gifts, their letters numbered as predicted and sent to render.

        Stops before a gift that cannot get a letter (void, "do not acknowledge", gone):
        storing it raises the rule's message once the gifts before it are committed.
        *locked*: read in a write transaction that is left open for :meth:`_store`.
        """
        ids = self.gifts[self.planned_to : self.planned_to + self.size]
        with nullcontext() if locked else read_only():
            found, had = self._read(ids)
            texts, version = current_texts()
            texts = with_defaults(texts)  # the settings' Khmer signatory, as render_pdf does
            if self.next_number is None or locked:
                self.next_number = current_value("letter") + 1
        group = _Group(gifts=[], had_letters=set(), version_id=version.id)
        for cid in ids:
            c = found.get(cid)
            if cid in had:
                group.had_letters.add(cid)
            elif c is None or c.voided or c.thank_status == "do_not_acknowledge":
                if group.gifts:
                    break  # stored when it comes first: the error is raised then
            else:
                for recipients in recipient_groups(c, self.mode):
                    data = verified(
                        self._data(c, recipients, self.next_number), "thank_you", version.number
                    )
                    self.next_number += 1
                    pdf = self.pool.submit(data, texts, "thank_you")
                    group.letters.append(_Planned(cid, data, pdf))
            group.gifts.append(cid)
        if not locked:
            db.session.rollback()  # end the read (nothing was written)
        self.planned_to += len(group.gifts)
        return group

    def _data(self, c: Contribution, recipients, number: int) -> LetterData:
        """Letter *number* for gift *c* to *recipients*, on the batch's paper (without its
        verification, which is derived from all the rest)."""
        return thank_you_data(
            c, recipients, number=number, issued_on=self.issued_on, paper=self.paper
        )

    def _store(self, group: _Group) -> bool:
        """Archive the group's letters and the batch's progress; ``False`` (nothing written)
        if the plan no longer holds. The caller commits."""
        found, had = self._read(group.gifts)
        if had != group.had_letters:
            return False
        version = db.session.get(LetterTextVersion, group.version_id)
        numbers = list(next_values("letter", len(group.letters)))
        if numbers != [planned.data.number for planned in group.letters]:
            return False
        # First check every letter against the database, then write: a group that no
        # longer holds leaves no file behind.
        letters, to_store = iter(group.letters), []
        for cid in group.gifts:
            self.cid = cid
            c = found.get(cid)
            if cid in had:
                to_store.append((cid, c, None))
                continue
            if c is None:
                raise LookupError(f"no contribution {cid}")
            if c.voided:
                raise Conflict(gettext("%(ref)s is void: it gets no letter.", ref=c.reference))
            if c.thank_status == "do_not_acknowledge":
                raise Conflict(gettext("%(ref)s is marked “do not acknowledge”.", ref=c.reference))
            made = []
            for recipients in recipient_groups(c, self.mode):
                planned = next(letters, None)
                if planned is None or planned.cid != cid:
                    return False
                data = self._data(c, recipients, planned.data.number)
                # The gift or a donor changed since it was planned (the verification follows).
                if data != replace(planned.data, verification=None):
                    return False
                made.append((planned, recipients))
            to_store.append((cid, c, made))
        if next(letters, None) is not None:
            return False
        by = db.session.get(User, self.by_id) if self.by_id else None
        batch = db.session.get(LetterBatch, self.batch_id)
        rendered = []
        for cid, c, made in to_store:
            self.cid = cid
            if made is None:  # lettered before: its letters count for the batch
                self.letter_ids += [
                    letter.id for letter in letters_for(c) if letter.id not in self.letter_ids
                ]
                continue
            for planned, recipients in made:
                pdf = planned.pdf.result()
                rendered.append(Rendered(planned.data, pdf, "thank_you", recipients, c))
        if rendered:  # a failure to archive names the group's first new letter
            self.cid = rendered[0].contribution.id
        self.letter_ids += [
            letter.id for letter in store_letters(rendered, version=version, by=by, batch=batch)
        ]
        unthanked = [c for _, c, made in to_store if made and c.thank_status == "not_thanked"]
        set_thank_statuses(unthanked, "drafted", by=by)
        _advance(
            self.batch_id, self.token,
            done=self.done + len(group.gifts), letter_ids_json=json.dumps(self.letter_ids),
        )  # fmt: skip
        return True


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
