"""Letter batches: many gifts' letters generated in a worker process.

:func:`run_batch` is the one place in the letters package that commits, once per gift, so
that progress is visible and a crash loses at most the gift being rendered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.archive import generate_thank_you
from ceroc_donations.letters.data import MODES
from ceroc_donations.letters.models import Letter, LetterBatch


def create_batch(
    contribution_ids: Iterable[int], *, mode: str = "joint", by: User | None
) -> LetterBatch:
    """A queued batch of the given gifts' letters. The caller commits, then starts it."""
    if mode not in MODES:
        raise Invalid({"mode": gettext("Choose one letter for all co-donors or one letter each.")})
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
        after={"total": batch.total, "mode": mode},
    )
    return batch


def run_batch(
    batch_id: int,
    *,
    issued_on: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LetterBatch:
    """Generate a batch's letters, one transaction per gift, updating its progress row.

    This is what the worker process runs; tests call it directly.
    """
    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise LookupError(f"no letter batch {batch_id}")
    by = batch.created_by
    batch.status, batch.started_at, batch.worker_pid = "running", utcnow(), os.getpid()
    db.session.commit()
    letter_ids = list(batch.letter_ids)
    try:
        for cid in batch.contribution_ids[batch.done :]:
            c = db.session.get(Contribution, cid)
            made, _ = generate_thank_you(
                c, by=by, mode=batch.mode, issued_on=issued_on, batch=batch
            )
            letter_ids += [m.id for m in made if m.id not in letter_ids]
            batch.letter_ids_json = json.dumps(letter_ids)
            batch.done += 1
            db.session.commit()
            if progress:
                progress(batch.done, batch.total)
    except Exception as exc:
        db.session.rollback()
        batch = db.session.get(LetterBatch, batch_id)
        batch.status, batch.finished_at = "failed", utcnow()
        batch.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    batch.status, batch.finished_at = "done", utcnow()
    db.session.commit()
    return batch


#: Config keys the worker process needs to open the same database and archive.
WORKER_CONFIG_KEYS = (
    "SQLALCHEMY_DATABASE_URI",
    "ARCHIVE_DIR",
    "BASE_CURRENCY",
    "ORG_NAME_EN",
    "ORG_NAME_KM",
    "ORG_SHORT",
    "SECRET_KEY",
)


#: Worker processes started by this process; finished ones are reaped at the next start.
WORKERS: list[subprocess.Popen] = []


def start_batch_process(batch_id: int) -> subprocess.Popen:
    """Run :func:`run_batch` in its own process, so it outlives the request that asked."""
    WORKERS[:] = [p for p in WORKERS if p.poll() is None]
    config = {
        key: current_app.config[key]
        for key in WORKER_CONFIG_KEYS
        if current_app.config.get(key) is not None
    }
    env = {**os.environ, "CEROC_LETTER_WORKER_CONFIG": json.dumps(config)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "ceroc_donations.letters.worker", str(batch_id)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    WORKERS.append(process)
    return process


def batch_eta_seconds(batch: LetterBatch) -> int | None:
    """Seconds left, from the pace so far; ``None`` before the first letter."""
    if batch.status != "running" or not batch.started_at or batch.done == 0:
        return None
    elapsed = (utcnow() - batch.started_at).total_seconds()
    return max(0, round(elapsed / batch.done * (batch.total - batch.done)))


def batch_letters(batch: LetterBatch) -> list[Letter]:
    ids = batch.letter_ids
    if not ids:
        return []
    by_id = {
        letter.id: letter
        for letter in db.session.execute(select(Letter).where(Letter.id.in_(ids))).scalars()
    }
    return [by_id[i] for i in ids if i in by_id]
