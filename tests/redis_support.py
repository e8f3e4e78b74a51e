"""Debian's ``redis-server`` on a loopback port, for the tests that need a real Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest


def have_redis() -> bool:
    return shutil.which("redis-server") is not None


needs_redis = pytest.mark.skipif(not have_redis(), reason="redis-server is not installed")


class RedisServer:
    """``redis-server`` on 127.0.0.1:*port*, without persistence; can be stopped and started
    again on the same port (the fault tests stop it in the middle of a job)."""

    def __init__(self, port: int, folder: Path):
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait: float = 20.0) -> RedisServer:
        import redis

        self.proc = subprocess.Popen(  # noqa: S603
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None
