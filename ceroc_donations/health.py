"""``GET /healthz``: the database, the job queue and free space on the storage directories.

Each check returns a :class:`Check`; the answer is 503 as soon as one of them fails. A
feature adds its own check with :func:`register` (e.g. the job queue with its backend), and a
worker proves it is alive by calling :func:`record_heartbeat` every few seconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import select, text

from ceroc_donations.accounts.setting import Setting
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import csrf, db

bp = Blueprint("health", __name__)
csrf.exempt(bp)

#: Worker heartbeats are ``setting`` rows ``heartbeat.<worker name>`` holding an ISO time.
HEARTBEAT_PREFIX = "heartbeat."


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


def record_heartbeat(worker: str) -> None:
    """Note that *worker* (e.g. ``host:pid``) is alive now. A worker calls this every few
    seconds; the caller commits. Names are kept to 50 characters."""
    key = (HEARTBEAT_PREFIX + worker)[:60]
    row = db.session.get(Setting, key)
    now = utcnow().isoformat(timespec="seconds")
    if row is None:
        db.session.add(Setting(key=key, value=now))
    else:
        row.value = now
    db.session.flush()


def check_queue() -> Check:
    """ "not configured" until a worker has beaten once; then the newest beat must be fresh."""
    try:
        beats = db.session.execute(
            select(Setting.key, Setting.value).where(Setting.key.startswith(HEARTBEAT_PREFIX))
        ).all()
    except Exception as exc:
        db.session.rollback()
        return Check(False, "error", {"error": type(exc).__name__})
    if not beats:
        return Check(True, "not configured")
    seen = {key.removeprefix(HEARTBEAT_PREFIX): datetime.fromisoformat(v) for key, v in beats}
    newest = max(seen.values())
    age = (utcnow() - newest).total_seconds()
    limit = current_app.config["HEALTH_WORKER_MAX_AGE_SECONDS"]
    detail = {
        "workers": {name: at.isoformat() + "Z" for name, at in sorted(seen.items())},
        "last_seen_seconds": max(0, round(age)),
    }
    if age > limit:
        return Check(False, "no worker", detail)
    return Check(True, "ok", detail)


def storage_directories() -> dict[str, str]:
    """The directories the app writes files to: instance, letter archive, receipts."""
    cfg = current_app.config
    return {
        "instance": current_app.instance_path,
        "archive": cfg["ARCHIVE_DIR"],
        "receipts": cfg["RECEIPTS_DIR"],
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
