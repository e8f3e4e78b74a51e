"""The app under gunicorn on a loopback port, with deploy/gunicorn.conf.py: for the serving
tests and ``bench/load.py``. Plus a small keep-alive HTTP client for many threads."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_book(app) -> tuple[str, list[int], list[int]]:
    """Two funds, three donors and a treasurer's API token in *app*'s database; the engine is
    disposed after, so that server processes start from a quiet database."""
    from sqlalchemy import select

    from ceroc_donations.accounts import service as users
    from ceroc_donations.accounts.models import User
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor
    from ceroc_donations.extensions import db

    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        funds = [
            book.create_fund("general", "General", by=treasurer).id,
            book.create_fund("promotion", "Promotion", by=treasurer).id,
        ]
        donors = [
            book.create_donor(parse_donor({"name_en": f"Donor {i}"}), by=treasurer).id
            for i in range(3)
        ]
        token = users.create_token(treasurer, "load", by=treasurer)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token, funds, donors


def server_env(database_url: str, storage: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process: this one's, minus any ``CEROC_*`` of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEROC_")}
    env.update(
        CEROC_DATABASE_URL=database_url,
        CEROC_SECRET_KEY=secrets.token_urlsafe(48),
        CEROC_STORAGE_DIR=str(storage),  # receipts/, letters/, imports/
        CEROC_HEALTH_MIN_FREE_MB="1",
        CEROC_AUDIT_KEY="test-audit-key",  # the key of the test app (conftest.py)
        CEROC_JOBS_SQLITE_PATH=str(storage / "jobs.sqlite"),  # not the checkout's instance/
    )
    env.update(extra)
    return env


class Gunicorn:
    """``gunicorn -c deploy/gunicorn.conf.py --workers N`` on 127.0.0.1, as a context manager.

    Waits until ``/healthz`` answers 200; on exit sends SIGTERM (a graceful stop) and waits.
    """

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2, args: tuple = ()):
        self.env = env
        self.log_path = log
        self.workers = workers
        self.args = args
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 90.0) -> Gunicorn:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONF),
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.args,
        ]
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                status, _body = request(self.port, "GET", "/healthz", timeout=5)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in {wait:.0f} s:\n{self.logs()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def request(port: int, method: str, path: str, *, timeout: float = 30, **kw) -> tuple[int, bytes]:
    """One request on a fresh connection."""
    conn = Connection(port, timeout=timeout)
    try:
        return conn.request(method, path, **kw)
    finally:
        conn.close()


class Connection:
    """One keep-alive HTTP/1.1 connection, for one thread. Reconnects when the server has
    closed an idle connection; ``retry`` resends a request that met a closed connection
    (only for requests safe to repeat: reads, or writes with an ``Idempotency-Key``)."""

    def __init__(self, port: int, *, timeout: float = 30, headers: dict | None = None):
        self.port = port
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.conn: http.client.HTTPConnection | None = None
        self.retries = 0
        self.response_headers: http.client.HTTPMessage | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        body: bytes | None = None,
        headers: dict | None = None,
        retry: bool = True,
    ) -> tuple[int, bytes]:
        send = {**self.headers, **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            send["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=send)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2 or not retry:
                    raise
                self.retries += 1
                continue
            self.response_headers = response.headers
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
