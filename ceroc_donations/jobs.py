"""The job queue: Huey, bound to the app like an extension.

Jobs: letter batches, emails, the transparency report. Three ways to run, chosen by configuration:

- **embedded** (the default): Huey's SQLite storage in the instance folder, and one consumer
  thread beside the app, started on the first request or the first job. Under gunicorn with
  several workers only the process holding ``<queue file>.lock`` runs it; the others try
  again now and then, so a killed worker's duty passes on.
- **Redis** (``CEROC_REDIS_URL``): RedisHuey; ``flask --app ceroc_donations worker`` runs the
  consumers, on any number of machines. The web processes only enqueue.
- **immediate** (``JOBS_IMMEDIATE``, for tests): a job runs at once, in the caller's thread.

A job is a plain function registered with :meth:`JobQueue.task` under a stable name. It runs
in an app context of its own (its own database session), never in the caller's request,
and commits by itself. What a job did, and how far it got, is kept in the database by the
job, not in the queue: any app instance can show it, and a job that was lost (a worker
killed, a queue emptied) is found again and resumed from the database.
"""

from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from ceroc_donations.logs import log_also

LOG = logging.getLogger(__name__)

#: How often a process that does not run the embedded consumer tries to take it over.
TAKEOVER_SECONDS = 30.0
#: A consumer writes the time here when it starts and every BEAT_SECONDS while its worker
#: threads are alive (Huey's key-value store, so every instance sharing the queue sees it).
SEEN_KEY = "ceroc:consumer-seen"
BEAT_SECONDS = 10.0


class _BeatingConsumer(Consumer):
    """Huey's consumer that notes it is alive at each of its health checks."""

    def beat(self) -> None:
        try:
            self.huey.put(SEEN_KEY, time.time())
        except Exception:  # noqa: BLE001 - the queue is down: /healthz will say so
            LOG.warning("could not note the job consumer as alive", exc_info=True)

    def check_worker_health(self) -> None:
        super().check_worker_health()  # restarts dead worker threads
        self.beat()


class _ThreadConsumer(_BeatingConsumer):
    """The consumer run from threads beside the app: it leaves signals to the server and
    beats from a thread of its own (Huey's main loop, which would, is the server's)."""

    def _set_signal_handlers(self) -> None:
        pass

    def start(self) -> None:
        super().start()
        self.beat()
        threading.Thread(target=self._beat_loop, name="ceroc-jobs-beat", daemon=True).start()

    def _beat_loop(self) -> None:
        while not self.stop_flag.wait(BEAT_SECONDS):
            self.check_worker_health()


class _AppQueue:
    """One app's Huey instance, made on first use, and its embedded consumer."""

    def __init__(self, app: Flask, tasks: dict[str, Callable], periodic: dict[str, Callable]):
        self.app = app
        self._tasks = tasks
        self._periodic = periodic
        self._huey: Huey | None = None
        self._wrappers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.consumer: Consumer | None = None
        self._lock_file: int | None = None
        self._next_try = 0.0

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                self._huey = self._make_huey()
            return self._huey

    @property
    def kind(self) -> str:
        """``immediate``, ``redis`` or ``embedded``."""
        config = self.app.config
        if config["JOBS_IMMEDIATE"]:
            return "immediate"
        return "redis" if config.get("REDIS_URL") else "embedded"

    def sqlite_path(self) -> str:
        return self.app.config.get("JOBS_SQLITE_PATH") or os.path.join(
            self.app.instance_path, "jobs.sqlite"
        )

    def _make_huey(self) -> Huey:
        config = self.app.config
        name = config["JOBS_QUEUE_NAME"]
        kind = self.kind
        if kind == "immediate":
            huey: Huey = Huey(name, results=False, immediate=True)
        elif kind == "redis":
            huey = RedisHuey(name, results=False, url=config["REDIS_URL"])
        else:
            huey = SqliteHuey(name, results=False, filename=self.sqlite_path())
        for task_name, fn in self._tasks.items():
            self._wrappers[task_name] = huey.task(name=task_name)(self._in_app(fn))
        for task_name, fn in self._periodic.items():
            wrapper = huey.periodic_task(crontab(), name=task_name)(self._in_app(fn))
            self._wrappers[task_name] = wrapper
        return huey

    def _in_app(self, fn: Callable) -> Callable:
        """*fn* in a fresh context: no caller's request or session, an app context of its own."""
        app = self.app

        def run(*args: Any, **kwargs: Any) -> Any:
            def inner() -> Any:
                from ceroc_donations.extensions import db

                with app.app_context():
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        db.session.remove()

            return contextvars.Context().run(inner)

        run.__name__ = fn.__name__
        return run

    def enqueue(self, name: str, *args: Any) -> None:
        self.maybe_start_embedded()
        huey = self.huey  # made on first use, with the task wrappers
        huey.enqueue(self._wrappers[name].s(*args))

    def health(self) -> dict:
        """The queue's state for ``/healthz``: ``ok`` when jobs will run (a consumer thread is
        alive here, or some consumer was seen within ``HEALTH_WORKER_MAX_AGE_SECONDS``)."""
        kind = self.kind
        if kind == "immediate":
            return {"queue": kind, "ok": True}
        try:  # also proves that the queue can be reached
            seen = self.huey.get(SEEN_KEY, peek=True)
        except Exception as exc:  # noqa: BLE001 - the point is to report it
            return {"queue": kind, "ok": False, "detail": type(exc).__name__}
        consumer = self.consumer
        if consumer is not None and all(t.is_alive() for _, t in consumer.worker_threads):
            return {"queue": kind, "ok": True, "consumer": "here"}
        age = None if seen is None else max(0, round(time.time() - seen))
        return {
            "queue": kind,
            "ok": age is not None and age <= self.app.config["HEALTH_WORKER_MAX_AGE_SECONDS"],
            "consumer_seen_seconds_ago": age,
        }

    # --- the embedded consumer ----------------------------------------------------------

    def maybe_start_embedded(self) -> bool:
        """Start the embedded consumer here if this process may run it; ``True`` if it runs."""
        if self.consumer is not None:
            return True
        if self.kind != "embedded" or not self.app.config["JOBS_EMBEDDED_WORKER"]:
            return False
        if self.app.testing:  # tests start a consumer themselves when they want one
            return False
        now = time.monotonic()
        if now < self._next_try:
            return False
        self._next_try = now + TAKEOVER_SECONDS
        return self.start_consumer(lock=True)

    def start_consumer(self, *, lock: bool, workers: int = 1) -> bool:
        """Start consumer threads in this process; with *lock*, only if no other process has."""
        with self._lock:
            if self.consumer is not None:
                return True
            if lock and not self._take_lock():
                return False
        huey = self.huey
        if huey.immediate:
            raise RuntimeError("JOBS_IMMEDIATE is on: jobs run in their caller, not a consumer")
        consumer = _ThreadConsumer(huey, workers=workers, worker_type="thread", periodic=True)
        consumer.start()  # its scheduler queues the once-a-minute jobs at once, then each minute
        self.consumer = consumer
        LOG.info("job consumer started in process %s (%s queue)", os.getpid(), self.kind)
        return True

    def stop_consumer(self) -> None:
        """Stop this process's consumer threads after their current job."""
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.stop(graceful=True)
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def _take_lock(self) -> bool:
        path = self.sqlite_path() + ".lock"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_file = fd
        return True


class JobQueue:
    """The Flask extension: tasks are registered at import time, Huey is made per app."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable] = {}
        self._periodic: dict[str, Callable] = {}

    def task(self, name: str) -> Callable[[Callable], Callable]:
        """Register *fn* as the job *name*; the function itself is returned unchanged."""

        def register(fn: Callable) -> Callable:
            self._tasks[name] = fn
            return fn

        return register

    def every_minute(self, name: str) -> Callable[[Callable], Callable]:
        """Register *fn* to run when a consumer starts and once a minute (to find lost jobs)."""

        def register(fn: Callable) -> Callable:
            self._periodic[name] = fn
            return fn

        return register

    def init_app(self, app: Flask) -> None:
        # The modules that define jobs, imported so that their jobs are registered.
        import ceroc_donations.ledger.report_jobs  # noqa: F401
        import ceroc_donations.letters.delivery  # noqa: F401
        import ceroc_donations.letters.jobs  # noqa: F401

        state = _AppQueue(app, self._tasks, self._periodic)
        app.extensions["ceroc_jobs"] = state

        @app.before_request
        def _embedded_consumer() -> None:
            state.maybe_start_embedded()

        @app.cli.command("worker")
        @click.option("--threads", default=1, show_default=True, help="Jobs run at once.")
        def worker(threads: int) -> None:
            """Run job consumers until stopped (SIGINT: after the current jobs; SIGTERM: now)."""
            if state.kind == "immediate":
                raise click.ClickException("JOBS_IMMEDIATE is on: there is nothing to consume.")
            # Huey's own lines (jobs started, done, retried) in the app's one format.
            log_also("huey", logging.INFO)
            huey = state.huey
            consumer = _BeatingConsumer(
                huey,
                workers=threads,
                worker_type="thread",
                periodic=True,
                health_check_interval=BEAT_SECONDS,
            )
            click.echo(f"Consuming the {state.kind} job queue with {threads} thread(s).")
            consumer.beat()
            consumer.run()

    def health(self) -> dict:
        """See :meth:`_AppQueue.health`."""
        return self.state().health()

    def state(self, app: Flask | None = None) -> _AppQueue:
        return (app or current_app).extensions["ceroc_jobs"]

    def enqueue(self, name: str, *args: Any) -> None:
        """Queue job *name* with *args* (plain values: ids, not rows). Raises if the queue
        cannot be reached."""
        self.state().enqueue(name, *args)


queue = JobQueue()
