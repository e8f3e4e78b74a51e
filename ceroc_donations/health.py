"""``GET /healthz``: the database, the job queue and free space on the storage directories.

Each check returns a :class:`Check`; the answer is 503 as soon as one of them fails. A
feature adds its own check with :func:`register`. Job consumers note that they are alive in
the queue itself (see :mod:`ceroc_donations.jobs`); the queue check reads that.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text

from ceroc_donations.extensions import csrf, db

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@dataclass
class Check:
    """One check's outcome: ``ok`` False makes ``/healthz`` answer 503."""

    ok: bool
    status: str  # "ok", "error", "not configured", "low" …
    detail: dict = field(default_factory=dict)


def check_database() -> Check:
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # the point of a health check is to report, not to raise
        db.session.rollback()
        return Check(False, "error", {"error": type(exc).__name__})
    return Check(True, "ok", {"dialect": db.engine.dialect.name})


def check_queue() -> Check:
    """The job queue, as :meth:`~ceroc_donations.jobs.JobQueue.health` sees it: a consumer
    runs in this process, or one was seen within ``HEALTH_WORKER_MAX_AGE_SECONDS``. With
    ``JOBS_IMMEDIATE`` (tests) there is no queue to watch: "not configured"."""
    from ceroc_donations.jobs import queue

    state = queue.health()
    detail = {k: v for k, v in state.items() if k != "ok"}
    if state["queue"] == "immediate":
        return Check(True, "not configured", detail)
    if state["ok"]:
        return Check(True, "ok", detail)
    return Check(False, "error" if "detail" in state else "no worker", detail)


def storage_directories() -> dict[str, str]:
    """The directories the app writes files to: instance, letter archive, receipts, imports."""
    cfg = current_app.config
    return {
        "instance": current_app.instance_path,
        "archive": cfg["ARCHIVE_DIR"],
        "receipts": cfg["RECEIPTS_DIR"],
        "imports": cfg["IMPORTS_DIR"],
    }


def _existing(path: str) -> str:
    """*path*, or its nearest existing parent (the folders are made when first written)."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_storage() -> Check:
    minimum = int(current_app.config["HEALTH_MIN_FREE_MB"])
    detail: dict = {"min_free_mb": minimum}
    ok = True
    for name, path in storage_directories().items():
        where = _existing(path)
        try:
            free_mb = shutil.disk_usage(where).free // (1024 * 1024)
        except OSError as exc:
            detail[name] = {"status": "error", "error": type(exc).__name__}
            ok = False
            continue
        status = "ok"
        if not os.access(where, os.W_OK):
            status = "not writable"
        elif free_mb < minimum:
            status = "low"
        ok = ok and status == "ok"
        detail[name] = {"status": status, "free_mb": free_mb}
    return Check(ok, "ok" if ok else "error", detail)


#: name → check, in the order they are reported; an app adds its own with :func:`register`.
CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "queue": check_queue,
    "storage": check_storage,
}


def register(app: Flask, name: str, check: Callable[[], Check]) -> None:
    """Add or replace *app*'s check *name* (e.g. the job queue's own, with its backend)."""
    app.extensions.setdefault("ceroc_health", {})[name] = check


def checks() -> dict[str, Callable[[], Check]]:
    return {**CHECKS, **current_app.extensions.get("ceroc_health", {})}


@bp.get("/healthz")
def healthz():
    """200 when every check passes, else 503; each check's status is a top-level key."""
    results = {name: check() for name, check in checks().items()}
    ok = all(r.ok for r in results.values())
    body: dict = {"status": "ok" if ok else "error"}
    body.update({name: r.status for name, r in results.items()})
    body["checks"] = {name: {"ok": r.ok, **r.detail} for name, r in results.items()}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ok else 503
