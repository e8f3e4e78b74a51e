"""The transparency report, built by a job and cached by period and language until the
books change.

The cache key is the period, the language, the audit counter (every change to the books
moves it) and the day (the report says when it was made). A request finds the report's
:class:`ReportBuild` row or queues one; the job renders the PDF into the storage directory
(``ARCHIVE_DIR/reports``, shared by every instance) and marks the row done. Building a
whole-history report takes seconds: a web worker never waits for it (except with
``JOBS_IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from ceroc_donations.database import current_value, read_only, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.jobs import queue
from ceroc_donations.ledger.models import ReportBuild

LOG = logging.getLogger(__name__)


class ReportDamaged(RuntimeError):
    """A cached report file is missing or no longer matches its SHA-256."""


def reports_dir() -> Path:
    return Path(current_app.config["ARCHIVE_DIR"]) / "reports"


def _key(since: date, until: date, language: str) -> dict:
    return {
        "since": since,
        "until": until,
        "language": language,
        "books_version": current_value("audit"),
        "generated_on": date.today(),
    }


def _find(key: dict) -> ReportBuild | None:
    return db.session.execute(
        select(ReportBuild).where(*(getattr(ReportBuild, k) == v for k, v in key.items()))
    ).scalar()


def report_for(since: date, until: date, language: str) -> ReportBuild:
    """The report of the books as they are now: the cached build, or a new one, queued.

    Commits the new row itself (it is a cache entry, not a change to the books): two
    requests at once get one row.
    """
    with read_only():
        key = _key(since, until, language)
        found = _find(key)
        db.session.rollback()
    if found is not None:
        return found
    try:
        build = ReportBuild(status="queued", **key)
        db.session.add(build)
        db.session.flush()
        build_id = build.id
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another request made it first
        with read_only():
            found = _find(key)
        if found is None:
            raise
        return found
    start(build_id)
    return db.session.get(ReportBuild, build_id)


def start(build_id: int) -> None:
    """Queue the build's job; if the queue cannot be reached, the build is failed."""
    try:
        queue.enqueue("ledger.report", build_id)
    except Exception:  # noqa: BLE001 - logged; the page says the report could not be made
        LOG.exception("report build %s could not be queued", build_id)
        db.session.rollback()
        _finish(build_id, status="failed", error="queue")
        db.session.commit()


def _finish(build_id: int, **values) -> None:
    db.session.execute(
        update(ReportBuild)
        .where(ReportBuild.id == build_id)
        .values(finished_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


def _stale_before():
    return utcnow() - timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])


@queue.task("ledger.report")
def build(build_id: int) -> str | None:
    """The job: render the report into the storage directory and mark its row done."""
    from ceroc_donations.ledger.report import build_report
    from ceroc_donations.rendering.report import render_report_pdf

    taken = db.session.execute(
        update(ReportBuild)
        .where(
            ReportBuild.id == build_id,
            or_(
                ReportBuild.status == "queued",
                and_(ReportBuild.status == "running", ReportBuild.started_at < _stale_before()),
            ),
        )
        .values(status="running", started_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not taken:
        return None
    row = db.session.get(ReportBuild, build_id)
    since, until, lang, day = row.since, row.until, row.language, row.generated_on
    db.session.rollback()
    try:
        with read_only():  # long reads: never hold SQLite's write lock
            pdf = render_report_pdf(build_report(since, until, generated_on=day), lang)
            db.session.rollback()
        relative = f"{since.isoformat()}_{until.isoformat()}_{lang}_{build_id}.pdf"
        path = reports_dir() / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(pdf)
        os.replace(tmp, path)
    except Exception:
        db.session.rollback()
        LOG.exception("report build %s (%s to %s, %s) failed", build_id, since, until, lang)
        _finish(build_id, status="failed", error="render")
        db.session.commit()
        raise
    _finish(build_id, status="done", pdf_path=relative, sha256=hashlib.sha256(pdf).hexdigest())
    db.session.commit()
    _forget_older(build_id)
    return "done"


def _forget_older(build_id: int) -> None:
    """Delete the older builds of the same period and language, and their files."""
    row = db.session.get(ReportBuild, build_id)
    older = db.session.execute(
        select(ReportBuild).where(
            ReportBuild.since == row.since,
            ReportBuild.until == row.until,
            ReportBuild.language == row.language,
            ReportBuild.id < row.id,
            ReportBuild.status.in_(("done", "failed")),
        )
    ).scalars()
    for old in list(older):
        if old.pdf_path:
            (reports_dir() / old.pdf_path).unlink(missing_ok=True)
        db.session.delete(old)
    db.session.commit()


@queue.every_minute("ledger.resume_lost_reports")
def resume_lost_reports() -> list[int]:
    """Queue again the builds whose job was lost (queued or running, and old)."""
    stale = _stale_before()
    lost = list(
        db.session.execute(
            select(ReportBuild.id).where(
                or_(
                    and_(ReportBuild.status == "queued", ReportBuild.created_at < stale),
                    and_(ReportBuild.status == "running", ReportBuild.started_at < stale),
                )
            )
        ).scalars()
    )
    db.session.rollback()
    for build_id in lost:
        queue.enqueue("ledger.report", build_id)
    return lost


def read(build: ReportBuild) -> bytes:
    """The cached PDF, checked against its SHA-256."""
    try:
        pdf = (reports_dir() / build.pdf_path).read_bytes()
    except OSError as exc:
        raise ReportDamaged(gettext("The cached report file is missing.")) from exc
    if hashlib.sha256(pdf).hexdigest() != build.sha256:
        raise ReportDamaged(gettext("The cached report file does not match its SHA-256."))
    return pdf
