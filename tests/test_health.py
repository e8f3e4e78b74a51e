"""``/healthz``: the database, the job queue's consumer and free space, 503 on a failure."""

from __future__ import annotations

import pytest

from ceroc_donations import create_app, health


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


# The consumer's threads run the once-a-minute jobs as it starts: on the rolled-back test
# connection they would interleave their savepoints with the request's.
@pytest.mark.own_database
def test_the_queue_is_ok_while_a_consumer_is_seen_within_a_minute(app, client, tmp_path):
    import time

    from ceroc_donations.jobs import SEEN_KEY, queue

    app.config.update(JOBS_IMMEDIATE=False, JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"))
    state = queue.state(app)
    # A real queue and no consumer ever: 503.
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["status"] == "error" and r.json["queue"] == "no worker"
    assert r.json["checks"]["queue"] == {
        "ok": False,
        "queue": "embedded",
        "consumer_seen_seconds_ago": None,
    }
    # A consumer in this process: ok.
    state.start_consumer(lock=True)
    try:
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json["queue"] == "ok"
        assert r.json["checks"]["queue"]["consumer"] == "here"
    finally:
        state.stop_consumer()
    # Stopped here, but it noted itself alive when it started: as another instance sees it.
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["queue"] == "ok"
    assert r.json["checks"]["queue"]["consumer_seen_seconds_ago"] <= 60
    # Last seen 61 seconds ago: no worker, 503.
    state.huey.put(SEEN_KEY, time.time() - 61)
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json["queue"] == "no worker"
    assert r.json["checks"]["queue"]["consumer_seen_seconds_ago"] == 61
    app.config["HEALTH_WORKER_MAX_AGE_SECONDS"] = 120
    assert client.get("/healthz").status_code == 200


def test_an_unreachable_queue_is_503(app, client):
    app.config.update(JOBS_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:9/0")  # nothing there
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["queue"] == "error"
    assert r.json["checks"]["queue"]["queue"] == "redis"
    assert r.json["checks"]["queue"]["detail"] == "ConnectionError"
    assert r.json["database"] == "ok"


def test_a_feature_adds_its_own_check(app, client):
    health.register(app, "mail", lambda: health.Check(False, "unreachable", {"host": "smtp"}))
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["mail"] == "unreachable"
    assert r.json["checks"]["mail"] == {"ok": False, "host": "smtp"}
    # Only this app has it.
    assert "mail" not in health.CHECKS
