"""The embedded queue under gunicorn with two workers: one consumer, taken over when its
process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.letters_support import make_book
from tests.test_letters_views import _free_port, _token

ROOT = Path(__file__).resolve().parents[1]  # the checkout

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = [
    pytest.mark.own_database,
    pytest.mark.skipif(
        not Path("/proc/locks").exists(), reason="reads the lock holders from /proc/locks"
    ),
]


def _lock_holders(path: Path) -> set[int]:
    """The processes holding a flock on *path*."""
    inode = os.stat(path).st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" in fields and fields[-3].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(fields[-4]))
    return holders


def _call(url: str, *, token: dict | None = None, body: bytes | None = None):
    request = urllib.request.Request(url, data=body, headers=dict(token or {}))
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return None, b""


def _until(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_embedded_consumer_among_gunicorn_workers(app, tmp_path):
    import json

    make_book(app)
    board = _token(app, "board")
    jobs_file = tmp_path / "jobs.sqlite"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CEROC_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CEROC_SECRET_KEY": "test",
        "CEROC_ARCHIVE_DIR": app.config["ARCHIVE_DIR"],
        "CEROC_JOBS_SQLITE_PATH": str(jobs_file),
        "PYTHONPATH": str(ROOT),
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
         "ceroc_donations:create_app()"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def batch_done() -> bool:
            status, body = _call(
                f"{base}/api/v1/letter-batches",
                token=board,
                body=json.dumps({"all_unthanked": True}).encode(),
            )
            assert status == 202, body
            url = json.loads(body)["url"]
            return _until(
                lambda: json.loads(_call(url, token=board)[1] or b"{}").get("status") == "done",
                "the batch",
            )

        def holder_after_requests() -> set[int]:
            for _ in range(6):  # requests reach both workers; each tries to start a consumer
                _call(f"{base}/healthz")
            return (
                jobs_file.exists()
                and Path(f"{jobs_file}.lock").exists()
                and _lock_holders(Path(f"{jobs_file}.lock"))
            )

        _until(lambda: _call(f"{base}/healthz")[0] == 200, "gunicorn")
        assert batch_done()
        holders = _until(holder_after_requests, "a consumer")
        assert len(holders) == 1  # one process consumes, the other only queues
        [first] = holders
        os.kill(first, signal.SIGKILL)  # gunicorn starts a new worker; the lock is free
        [second] = _until(
            lambda: (h := holder_after_requests()) and first not in h and h, "a takeover", 180
        )
        assert second != first
        assert batch_done()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
