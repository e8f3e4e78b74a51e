"""Ledger speed at scale: ``python bench/ledger.py [--entries 1000000]``.

Builds a SQLite database of N ledger entries (bulk insert straight into ``ledger_entry``
and consistent ``fund_month_total`` rows; no contributions or expenses are needed, the
queries timed here do not join them), then prints median and p95 of: the first page, a
page deep in the ledger (cursor), a filtered page (fund + date range), a sparse filtered
page (one category), the per-fund balances, and, in a separate process, the time and peak
RSS (VmHWM) of a CSV export of about 100,000 rows. The same page timings at 10,000
entries are printed for comparison.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FUNDS = 5
START = date(2016, 1, 1)
DAYS = 3652  # ten years
CATEGORIES = ("promotion", "printing", "travel", "events", "fees", "other")
RUNS = 40


def make_app(path: str):
    from ceroc_donations import create_app

    return create_app(
        {"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    )


def build(path: str, entries: int) -> float:
    """Create the schema, then bulk-insert *entries* rows with indexes built afterwards."""
    started = time.perf_counter()
    app = make_app(path)
    from ceroc_donations.book.models import LedgerEntry
    from ceroc_donations.extensions import db

    with app.app_context():
        db.create_all()
        db.engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    for index in LedgerEntry.__table__.indexes:
        con.execute(f"DROP INDEX IF EXISTS {index.name}")
    con.executemany(
        "INSERT INTO fund (id, code, name_en, archived) VALUES (?, ?, ?, 0)",
        [(i, f"fund-{i}", f"Fund {i}") for i in range(1, FUNDS + 1)],
    )
    rng = random.Random(42)
    totals: dict[tuple[int, str], list[int]] = {}

    def rows():
        for i in range(entries):
            day = START + timedelta(days=i * DAYS // entries)
            fund = rng.randint(1, FUNDS)
            direction = "in" if rng.random() < 0.6 else "out"
            base = rng.randint(100, 500_000)
            voided = rng.random() < 0.01
            category = "contribution" if direction == "in" else rng.choice(CATEGORIES)
            if not voided:
                t = totals.setdefault((fund, day.replace(day=1).isoformat()), [0, 0, 0, 0])
                t[0 if direction == "in" else 1] += base
                t[2 if direction == "in" else 3] += 1
            yield (
                i + 1,
                day.isoformat(),
                direction,
                fund,
                category,
                base,
                base,
                "USD",
                f"Entry {i} ម្ចាស់ជំនួយ",
                int(voided),
            )

    con.executemany(
        "INSERT INTO ledger_entry (id, entry_on, direction, fund_id, category, "
        "base_amount_minor, amount_minor, currency, label, voided) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows(),
    )
    con.executemany(
        "INSERT INTO fund_month_total (fund_id, month, in_minor, out_minor, in_count, "
        "out_count) VALUES (?,?,?,?,?,?)",
        [(f, m, *t) for (f, m), t in sorted(totals.items())],
    )
    con.commit()
    con.close()
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    for index in LedgerEntry.__table__.indexes:
        index.create(engine)
    engine.dispose()
    return time.perf_counter() - started


def timed(fn, runs: int = RUNS) -> tuple[float, float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def page_timings(path: str, entries: int) -> dict[str, tuple[float, float]]:
    app = make_app(path)
    from ceroc_donations.book import queries
    from ceroc_donations.database import read_only
    from ceroc_donations.extensions import db
    from ceroc_donations.ledger import service as ledger

    results = {}
    with app.app_context(), read_only():
        deep_day = START + timedelta(days=int(entries * 0.2) * DAYS // entries)
        deep = (deep_day, int(entries * 0.2))
        year = ledger.LedgerFilter(
            fund_id=2, date_from=date(2019, 1, 1), date_to=date(2019, 12, 31)
        )
        cases = {
            "first page": lambda: ledger.ledger_page(ledger.LedgerFilter(), None, 50),
            "deep page (80% down)": lambda: ledger.ledger_page(ledger.LedgerFilter(), deep, 50),
            "fund + date range": lambda: ledger.ledger_page(year, None, 50),
            "category (sparse)": lambda: ledger.ledger_page(
                ledger.LedgerFilter(category="travel"), None, 50
            ),
            "per-fund balances": lambda: queries.totals(queries.fund_balances()),
        }
        for name, fn in cases.items():
            results[name] = timed(fn)
            db.session.rollback()
    return results


def csv_case(path: str) -> None:
    """Run in its own process: export about 100,000 rows, report time and peak RSS."""
    app = make_app(path)
    from ceroc_donations.database import read_only
    from ceroc_donations.ledger import service as ledger
    from ceroc_donations.ledger.exports import iter_csv

    def hwm() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    # One year out of ten: about a tenth of the entries.
    f = ledger.LedgerFilter(date_from=date(2020, 1, 1), date_to=date(2020, 12, 31))
    baseline = hwm()
    started = time.perf_counter()
    count, size = -1, 0
    with app.app_context(), read_only(), tempfile.TemporaryFile() as out:
        for chunk in iter_csv(ledger.export_header(), ledger.export_rows(f)):
            data = chunk.encode("utf-8")
            size += len(data)
            count += chunk.count("\n")
            out.write(data)
    elapsed = time.perf_counter() - started
    print(
        f"  CSV export {count:,} rows: {elapsed:.2f} s, {size / 1e6:.1f} MB, "
        f"peak RSS {hwm() / 1024:.1f} MiB (after start-up {baseline / 1024:.1f} MiB)"
    )


def report(entries: int, workdir: str) -> dict:
    path = os.path.join(workdir, f"ledger-{entries}.sqlite")
    built = build(path, entries)
    print(f"\n{entries:,} entries (built in {built:.1f} s, {os.path.getsize(path) / 1e6:.0f} MB)")
    results = page_timings(path, entries)
    for name, (median, p95) in results.items():
        print(f"  {name:24} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    return {"path": path, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--csv", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv:
        csv_case(args.csv)
        return
    print(
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"{RUNS} runs per case after 3 warm-ups"
    )
    with tempfile.TemporaryDirectory() as workdir:
        small = report(10_000, workdir)
        big = report(args.entries, workdir)
        subprocess.run([sys.executable, __file__, "--csv", big["path"]], check=True)
        print(f"\np95 at {args.entries:,} vs 10,000 (target ≤ 50 ms and ≤ 2×):")
        for name, (_median, p95) in big["results"].items():
            base = small["results"][name][1]
            ok = p95 <= 50 and p95 <= 2 * base
            print(
                f"  {name:24} {p95:7.2f} ms / {base:6.2f} ms = {p95 / base:4.1f}×  "
                f"{'ok' if ok else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
