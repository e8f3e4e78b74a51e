"""Load through gunicorn: ``python bench/load.py [--db sqlite|postgres|both] [--requests N]``.

Serves the app as ``make run`` and the systemd unit do (deploy/gunicorn.conf.py), with 2
workers on 127.0.0.1, once on a fresh SQLite file and once on a throwaway PostgreSQL cluster
(started like scripts/test-postgres.sh, on a loopback port, removed afterwards). The book
is migrated, given the demo data and ``--seed`` more gifts through the services, and the
public transparency page is switched on. Then, per case, ``--clients`` keep-alive clients
send a fixed number of requests (after a warm-up), bounded by ``--time-limit`` seconds:

- the dashboard ``/`` as the treasurer (signed in through the login form, with its CSRF token);
- a ledger page ``/ledger/`` as a member;
- the public ``/transparency`` page;
- posting contributions: ``POST /api/v1/contributions`` with the treasurer's bearer token
  (each with its own ``Idempotency-Key``).

It prints requests/s, p50 and p95 latency and errors (any answer but 2xx, or no answer).
Targets on a 2-core machine: ledger page ≥ 300 requests/s; posting ≥ 100 requests/s with
p95 ≤ 100 ms; 0 errors. The clients run on the same machine and share its cores.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving_support import Connection, Gunicorn, server_env  # noqa: E402

FUNDS = ("general", "promotion")


@dataclass
class Result:
    case: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    first_error: str = ""
    server_cpu: float = 0.0  # seconds of CPU the gunicorn workers spent

    @property
    def cpu_ms(self) -> float:
        """The workers' CPU time per request: what the load costs, however busy the machine."""
        return self.server_cpu / self.requests * 1000 if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


# --- the database -----------------------------------------------------------------------------


class Postgres:
    """A throwaway PostgreSQL cluster in a temporary folder on a loopback port."""

    def __init__(self, port: int, *, fast: bool = False):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not found:
            raise SystemExit("PostgreSQL is not installed: run scripts/setup.sh --test")
        self.bin = found[-1]
        self.port = port
        self.fast = fast
        self.dir = Path(tempfile.mkdtemp(prefix="ceroc-load-pg-"))

    def _as_pg(self, *cmd: str) -> None:
        if os.getuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> str:
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._as_pg(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off"
        self._as_pg(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.dir / "log"),
            "-w", "start",
        )  # fmt: skip
        self._as_pg(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                    "-U", "postgres", "ceroc_load")  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/ceroc_load"

    def __exit__(self, *exc) -> None:
        try:
            self._as_pg(
                str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def seed(database_url: str, storage: Path, gifts: int) -> dict:
    """Migrate, load the demo, add *gifts* contributions, open the transparency page.

    Returns the logins and the treasurer's API token.
    """
    from flask_migrate import upgrade
    from sqlalchemy import select

    from ceroc_donations import create_app
    from ceroc_donations.accounts import service as users
    from ceroc_donations.accounts import settings
    from ceroc_donations.accounts.models import User
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense
    from ceroc_donations.book.models import Fund
    from ceroc_donations.demo import load_demo
    from ceroc_donations.extensions import db

    app = create_app(
        {
            "SECRET_KEY": "seed",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "ARCHIVE_DIR": str(storage / "letters"),
            "RECEIPTS_DIR": str(storage / "receipts"),
        }
    )
    with app.app_context():
        upgrade()
        logins = {role: (email, pw) for email, role, pw in load_demo()}
        db.session.commit()
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        admin = db.session.execute(select(User).where(User.role == "admin")).scalar_one()
        funds = {f.code: f.id for f in db.session.execute(select(Fund)).scalars()}
        donors = [
            book.create_donor(
                parse_donor({"name_en": f"Load donor {i}", "name_km": "ម្ចាស់អំណោយ"}), by=treasurer
            ).id
            for i in range(50)
        ]
        for n in range(gifts):
            book.record_contribution(
                parse_contribution(
                    {
                        "amount": f"{n % 400 + 5}.00",
                        "currency": "USD",
                        "exchange_rate": "1",
                        "received_on": f"{2014 + n % 12}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                        "fund_id": str(funds[FUNDS[n % 2]]),
                        "method": "cash",
                    },
                    donor_ids=[str(donors[n % len(donors)])],
                ),
                by=treasurer,
            )
            if n % 10 == 0:
                book.record_expense(
                    parse_expense(
                        {
                            "paid_on": f"{2014 + n % 12}-{n % 12 + 1:02d}-15",
                            "payee": f"Print shop {n % 7}",
                            "amount": "35.00",
                            "currency": "USD",
                            "category": "printing",
                            "fund_id": str(funds["promotion"]),
                        }
                    ),
                    by=treasurer,
                )
            if n % 500 == 499:
                db.session.commit()
        settings.set_transparency_public(True, by=admin)
        token = users.create_token(treasurer, "load", by=treasurer)
        db.session.commit()
        facts = {
            "logins": logins,
            "token": token,
            "fund": funds["general"],
            "donors": donors,
        }
        db.session.remove()
        db.engine.dispose()
    return facts


def workers_cpu(master: int) -> float:
    """CPU seconds of *master*'s workers: the live ones, plus those it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()

    fields = stat(master)
    total = int(fields[13]) + int(fields[14])  # cutime, cstime: children it waited for
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                f = stat(int(entry))
            except OSError:
                continue
            if int(f[1]) == master:  # ppid
                total += int(f[11]) + int(f[12])  # utime, stime
    return total / tick


# --- the clients ------------------------------------------------------------------------------


def sign_in(port: int, email: str, password: str) -> str:
    """Sign in through the login form (with its CSRF token); return the Cookie header."""
    conn = Connection(port)
    status, page = conn.request("GET", "/login")
    cookies = _cookies(conn)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    form = f"email={email}&password={password}&csrf_token={token}".replace("@", "%40")
    status, _ = conn.request(
        "POST",
        "/login",
        body=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies},
    )
    conn.close()
    if status != 302:
        raise SystemExit(f"signing in as {email} answered {status}")
    return _cookies(conn)


def _cookies(conn: Connection) -> str:
    return "; ".join(
        value.split(";", 1)[0] for value in conn.response_headers.get_all("Set-Cookie") or []
    )


def _phase(case, port: int, numbers: range, clients: int, limit: float):
    """Send requests ``case(n)`` for each n in *numbers* from *clients* threads, until done
    or *limit* seconds have passed. Returns (seconds, latencies, errors)."""
    todo = iter(numbers)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start_line = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker() -> None:
        conn = Connection(port, timeout=60)
        mine: list[float] = []
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            with lock:
                n = next(todo, None)
            if n is None:
                break
            method, path, kw = case(n)
            t0 = time.perf_counter()
            try:
                status, body = conn.request(method, path, **kw)
                failed = None if 200 <= status < 300 else f"{status} {body[:200]!r}"
            except OSError as exc:
                conn.close()
                failed = f"{type(exc).__name__}: {exc}"
            mine.append(time.perf_counter() - t0)
            if failed:
                with lock:
                    errors.append(failed)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + limit
    start_line.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, errors


def run_case(case, port: int, total: int, clients: int, limit: float, warmup: int, cpu) -> Result:
    """A warm-up (not counted), then *total* requests, or fewer when *limit* seconds run out.
    *cpu* tells the server's CPU seconds so far."""
    _phase(case, port, range(-warmup, 0), clients, limit)
    cpu0 = cpu()
    seconds, latencies, errors = _phase(case, port, range(total), clients, limit)
    first = errors[0] if errors else ""
    return Result(
        case.__name__, len(latencies), seconds, latencies, len(errors), first, cpu() - cpu0
    )


def cases(port: int, facts: dict) -> list:
    treasurer = sign_in(port, *facts["logins"]["treasurer"])
    member = sign_in(port, *facts["logins"]["member"])
    bearer = f"Bearer {facts['token']}"
    run = secrets.token_hex(4)
    donors, fund = facts["donors"], facts["fund"]

    def dashboard(n):
        return "GET", "/", {"headers": {"Cookie": treasurer}}

    def ledger_page(n):
        return "GET", "/ledger/", {"headers": {"Cookie": member}}

    def transparency(n):
        return "GET", "/transparency", {}

    def post_contribution(n):
        body = {
            "donor_ids": [donors[n % len(donors)]],
            "amount": f"{n % 300 + 10}.00",
            "currency": "USD",
            "exchange_rate": "1",
            "received_on": "2026-03-01",
            "fund_id": fund,
            "method": "cash",
        }
        headers = {"Authorization": bearer, "Idempotency-Key": f"load-{run}-{n}"}
        return "POST", "/api/v1/contributions", {"json_body": body, "headers": headers}

    return [dashboard, ledger_page, transparency, post_contribution]


# --- the run ------------------------------------------------------------------------------------


def bench(label: str, database_url: str, args, work: Path) -> list[Result]:
    storage = work / label
    t0 = time.perf_counter()
    facts = seed(database_url, storage, args.seed)
    print(f"[{label}] seeded the demo + {args.seed:,} gifts in {time.perf_counter() - t0:.1f} s")
    env = server_env(database_url, storage)
    results = []
    with Gunicorn(env, work / f"{label}-gunicorn.log", workers=args.workers) as server:
        for case in cases(server.port, facts):
            if args.only and case.__name__ not in args.only:
                continue
            total = args.posts if case.__name__ == "post_contribution" else args.requests
            result = run_case(
                case, server.port, total, args.clients, args.time_limit, args.warmup,
                cpu=lambda: workers_cpu(server.proc.pid),
            )  # fmt: skip
            results.append(result)
            print(
                f"[{label}] {result.case:<18} {result.requests:>6} req in {result.seconds:5.1f} s"
                f"  {result.rps:7.1f} req/s  p50 {result.pct(0.5):6.1f} ms"
                f"  p95 {result.pct(0.95):6.1f} ms  errors {result.errors}"
                f"  server CPU {result.cpu_ms:.1f} ms/req"
                + (f"  first: {result.first_error}" if result.errors else ""),
                flush=True,
            )
        code = server.stop()
        if code != 0:
            print(f"[{label}] gunicorn stopped with {code}:\n{server.logs()}")
    return results


TARGETS = {
    "ledger_page": lambda r: r.rps >= 300,
    "post_contribution": lambda r: r.rps >= 100 and r.pct(0.95) <= 100,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--requests", type=int, default=3000, help="per page case")
    p.add_argument("--posts", type=int, default=1500, help="contributions to post")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds per case")
    p.add_argument("--seed", type=int, default=2000, help="gifts in the book before the load")
    p.add_argument(
        "--only",
        nargs="+",
        choices=("dashboard", "ledger_page", "transparency", "post_contribution"),
        help="run these cases only",
    )
    p.add_argument("--pg-port", type=int, default=int(os.environ.get("CEROC_TEST_PG_PORT", 54338)))
    p.add_argument(
        "--pg-fast", action="store_true", help="PostgreSQL with fsync and synchronous_commit off"
    )
    args = p.parse_args()
    print(
        f"{os.cpu_count()} cores; gunicorn {args.workers} workers (deploy/gunicorn.conf.py), "
        f"{args.clients} clients, {args.requests} requests a page, {args.posts} posts"
    )
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="ceroc-load-") as tmp:
        work = Path(tmp)
        if args.db in ("sqlite", "both"):
            results["SQLite"] = bench("sqlite", f"sqlite:///{work / 'load.sqlite'}", args, work)
        if args.db in ("postgres", "both"):
            with Postgres(args.pg_port, fast=args.pg_fast) as url:
                results["PostgreSQL"] = bench("postgres", url, args, work)

    print("\n| Database | Case | Requests | req/s | p50 | p95 | Errors | Server CPU/req |")
    print("|---|---|---|---|---|---|---|---|")
    missed = []
    for db_name, rows in results.items():
        for r in rows:
            print(
                f"| {db_name} | {r.case} | {r.requests} | {r.rps:.0f} | {r.pct(0.5):.1f} ms"
                f" | {r.pct(0.95):.1f} ms | {r.errors} | {r.cpu_ms:.1f} ms |"
            )
            target = TARGETS.get(r.case)
            if r.errors or (target and not target(r)):
                missed.append(f"{db_name} {r.case}")
    print("targets: " + ("all met" if not missed else "missed by " + ", ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
