"""``/healthz``: the database, the queue's worker heartbeat and free space, 503 on a failure."""

from __future__ import annotations

from datetime import timedelta

from ceroc_donations import create_app, health
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db


def test_all_well(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["queue"] == "not configured"
    assert body["storage"] == "ok"
    assert set(body["checks"]["storage"]) >= {"instance", "archive", "receipts"}
    assert body["checks"]["storage"]["archive"]["free_mb"] > 0
    assert r.headers["Cache-Control"] == "no-store"


def test_unreachable_database_is_503(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            # a folder that does not exist: SQLite cannot open the file
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.sqlite",
            "RECEIPTS_DIR": str(tmp_path / "receipts"),
            "ARCHIVE_DIR": str(tmp_path / "letters"),
        }
    )
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.json["status"] == "error"
    assert r.json["database"] == "error"
    assert r.json["checks"]["database"]["error"] == "OperationalError"
    assert r.json["storage"] == "ok"  # the others are still reported


def test_low_free_space_is_503(app, client):
    app.config["HEALTH_MIN_FREE_MB"] = 10**12  # more than any disk has
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["storage"] == "error"
    assert r.json["checks"]["storage"]["receipts"]["status"] == "low"
    assert r.json["database"] == "ok"


def test_storage_not_yet_made_is_checked_where_it_will_be(app, client, tmp_path):
    app.config["ARCHIVE_DIR"] = str(tmp_path / "not" / "made" / "yet")
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["checks"]["storage"]["archive"]["status"] == "ok"


def test_worker_heartbeat(app, client):
    with app.app_context():
        health.record_heartbeat("host-a:123")
        db.session.commit()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["queue"] == "ok"
    assert "host-a:123" in r.json["checks"]["queue"]["workers"]

    # The last beat is older than the limit: no worker is alive.
    with app.app_context():
        row = db.session.get(health.Setting, health.HEARTBEAT_PREFIX + "host-a:123")
        row.value = (utcnow() - timedelta(seconds=90)).isoformat(timespec="seconds")
        db.session.commit()
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["queue"] == "no worker"
    assert r.json["checks"]["queue"]["last_seen_seconds"] >= 90

    # Another worker beats: the queue is served again.
    with app.app_context():
        health.record_heartbeat("host-b:7")
        db.session.commit()
    assert client.get("/healthz").status_code == 200


def test_a_feature_adds_its_own_check(app, client):
    health.register(app, "mail", lambda: health.Check(False, "unreachable", {"host": "smtp"}))
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["mail"] == "unreachable"
    assert r.json["checks"]["mail"] == {"ok": False, "host": "smtp"}
    # Only this app has it.
    assert "mail" not in health.CHECKS
