from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ceroc_donations.extensions import csrf, db

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
def healthz():
    """200 with the database's status; 503 when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
        status = {"status": "ok", "database": "ok", "dialect": db.engine.dialect.name}
        code = 200
    except Exception as exc:  # the point of a health check is to report, not to raise
        db.session.rollback()
        status = {"status": "error", "database": "error", "detail": type(exc).__name__}
        code = 503
    return jsonify(status), code
