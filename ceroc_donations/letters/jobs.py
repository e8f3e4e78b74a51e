"""Letter batches: many gifts' letters generated in one go, in a worker process.

This module is the one place in the letters package that commits by itself:
:func:`run_batch` commits once per gift, so that the page can show progress and a crash
loses at most the gift being rendered. Everything else here flushes; the caller commits.

The worker is ``python -m ceroc_donations.letters.jobs BATCH_ID``, started by
:func:`start_batch`. It writes its log (with tracebacks) to the stderr it shares with the
app, so its errors land in the app's log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

import ceroc_donations
from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.archive import generate_thank_you
from ceroc_donations.letters.data import MODES
from ceroc_donations.letters.models import Letter, LetterBatch

# Named, not __name__: the worker runs this module as __main__.
LOG = logging.getLogger("ceroc_donations.letters.jobs")

#: Values of the LETTER_BATCH_RUNNER setting.
RUNNERS = ("process", "inline")


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
    """Generate a batch's letters, committing once per gift and updating its progress row.

    On an error the batch is marked failed with a message for people, the traceback goes
    to the log, and the error is raised again.
    """
    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise LookupError(f"no letter batch {batch_id}")
    by = batch.created_by
    batch.status, batch.started_at, batch.worker_pid = "running", utcnow(), os.getpid()
    db.session.commit()
    letter_ids = list(batch.letter_ids)
    cid = None
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
        LOG.exception("letter batch %s failed at contribution id %s", batch_id, cid)
        batch = db.session.get(LetterBatch, batch_id)
        batch.status, batch.finished_at = "failed", utcnow()
        batch.error = _failure_message(exc, cid)
        db.session.commit()
        raise
    batch.status, batch.finished_at = "done", utcnow()
    db.session.commit()
    return batch


def _failure_message(exc: Exception, cid: int | None) -> str:
    """What the batch page says: a rule's own message, or where to look; never a traceback."""
    if isinstance(exc, Conflict):
        return str(exc)
    c = db.session.get(Contribution, cid) if cid is not None else None
    return gettext(
        "The letter for %(ref)s could not be made. The details are in the server log.",
        ref=c.reference if c else "?",
    )


#: Config keys the worker process needs to open the same database and archive.
WORKER_CONFIG_KEYS = (
    "SQLALCHEMY_DATABASE_URI",
    "ARCHIVE_DIR",
    "BASE_CURRENCY",
    "ORG_NAME_EN",
    "ORG_NAME_KM",
    "ORG_SHORT",
    "SECRET_KEY",
    "AUDIT_KEY",
)


#: The environment variable that hands the worker its settings.
WORKER_CONFIG_ENV = "CEROC_LETTER_WORKER_CONFIG"

#: Worker processes started by this process; finished ones are reaped at the next start.
WORKERS: list[subprocess.Popen] = []


def start_batch(batch: LetterBatch) -> None:
    """Run *batch* the way LETTER_BATCH_RUNNER says; the caller has committed it.

    ``process``: in a worker process of its own, which outlives the request. ``inline``: here
    and now, before returning (one-process installs); a failure is on the batch row and in
    the log, so it is not raised again.
    """
    runner = current_app.config["LETTER_BATCH_RUNNER"]
    if runner not in RUNNERS:
        raise ValueError(f"LETTER_BATCH_RUNNER must be one of {', '.join(RUNNERS)}, not {runner!r}")
    if runner == "process":
        start_batch_process(batch.id)
        return
    try:
        run_batch(batch.id)
    except Exception:  # noqa: BLE001 - recorded on the batch row and logged by run_batch
        pass


def start_batch_process(batch_id: int) -> subprocess.Popen:
    """Run :func:`run_batch` in its own process, so it outlives the request that asked.

    The worker's stderr is this process's stderr: its log lines join the app's log.
    """
    WORKERS[:] = [p for p in WORKERS if p.poll() is None]
    config = {
        key: current_app.config[key]
        for key in WORKER_CONFIG_KEYS
        if current_app.config.get(key) is not None
    }
    # The worker imports the same copy of the package as this process, from any folder.
    package_parent = str(Path(ceroc_donations.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, WORKER_CONFIG_ENV: json.dumps(config)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "ceroc_donations.letters.jobs", str(batch_id)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
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


def main(argv: list[str]) -> int:
    """``python -m ceroc_donations.letters.jobs BATCH_ID``: run one letter batch, then exit."""
    from ceroc_donations import create_app

    batch_id = int(argv[1])
    app = create_app(json.loads(os.environ.get(WORKER_CONFIG_ENV) or "null"))
    # A no-op when the app has set up logging itself.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s [worker]: %(message)s"
    )
    with app.app_context():
        try:
            run_batch(batch_id)
        except Exception:  # noqa: BLE001 - logged with its traceback by run_batch
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
