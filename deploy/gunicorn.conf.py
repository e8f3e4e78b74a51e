"""Gunicorn settings for CEROC Donations, used by ``make run`` and by deploy/ceroc-web.service.

    gunicorn -c deploy/gunicorn.conf.py                      # 127.0.0.1:8000
    gunicorn -c deploy/gunicorn.conf.py --bind 0.0.0.0:5000  # any setting, on the command line

Sizing: one worker process per CPU core (at least 2, at most 8), each with 4 threads. A
process per core lets PDF rendering (pure CPU, holding Python's GIL) run in parallel; threads
let a worker answer other requests while one waits for the database or a slow client.
``CEROC_WEB_WORKERS`` and ``CEROC_WEB_THREADS`` override the numbers.
"""

from __future__ import annotations

import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    except AttributeError:
        return os.cpu_count() or 1


wsgi_app = "ceroc_donations:create_app()"
bind = [os.environ.get("CEROC_BIND", "127.0.0.1:8000")]

worker_class = "gthread"
workers = int(os.environ.get("CEROC_WEB_WORKERS") or max(2, min(_cores(), 8)))
threads = int(os.environ.get("CEROC_WEB_THREADS") or 4)
# Each worker builds its own app and database engine after the fork: no SQLite or
# PostgreSQL connection is ever shared between processes.
preload_app = False
# Restart a worker now and then (staggered) so memory held by PDF rendering is given back.
max_requests = 2000
max_requests_jitter = 200

# A worker whose main loop is silent this long is killed and replaced. Requests run in
# threads, so a slow report does not trip it; the proxy's own timeout bounds a request.
timeout = 120
# On SIGTERM (systemctl stop/restart) requests in flight get this long to finish.
graceful_timeout = 30
keepalive = 5

# Logs go to standard output/error: the journal under systemd, the terminal under make run.
# The access log leaves out query strings: searches may hold donors' names.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("CEROC_LOG_LEVEL", "info")
# The app's one line format (ceroc_donations/logs.py): time, level, [request id], logger.
# An access line carries the request id the app answered with, so it finds the app's lines.
access_log_format = (
    '[%({x-request-id}o)s] gunicorn.access: %(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "app": {"format": "%(asctime)s %(levelname)s [-] %(name)s: %(message)s"},
        "access": {"format": "%(asctime)s %(levelname)s %(message)s"},
    },
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "stream": "ext://sys.stderr",
        },
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    # Gunicorn's defaults would give the root logger a handler of its own, which would print
    # every app line a second time: the app logs through its own handler (logs.py).
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"]},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"]},
    },
}
proc_name = "ceroc-donations"

# The workers' heartbeat files on a RAM disk: a busy or slow disk cannot stall them.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"

# Gunicorn ≥ 24's control socket is not used (systemd signals the master): no socket in the
# home folder that two instances on one machine would fight over.
control_socket_disable = True
