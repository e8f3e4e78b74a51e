"""Time the transparency report: ``python bench/report.py [--count 1000] [--runs 3]``.

Builds a throw-away SQLite book with *count* contributions (through the services, as the
pages record them) and a tenth as many expenses in one year, then prints the time to read
it (``build_report``) and to render the PDF (``render_report_pdf``) in English and Khmer:
the first render (fonts and CSS loaded) and the median of the warm ones, each run
alternating with bare WeasyPrint and a warm Chromium on the same HTML (bench/peers.py).
Against older code: bench/report_versions.py; what the design costs: bench/report_css.py.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pypdf  # noqa: E402

from ceroc_donations import create_app  # noqa: E402
from ceroc_donations.extensions import db  # noqa: E402
from ceroc_donations.rendering.pdf import _peak_rss_kib  # noqa: E402
from ceroc_donations.rendering.report import render_report_pdf, report_renderer  # noqa: E402

DONORS = [
    ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា", "group", "named"),
    ("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត", "group", "named"),
    ("Mrs. Janet Seng", "អ្នកស្រី សេង ជេណេត", "person", "named"),
    ("Sok Dara", "សុខ ដារា", "person", "anonymous"),
    ("IKA", None, "group", "named"),
]
CATEGORIES = ("promotion", "printing", "travel", "events", "fees", "other")


def fill_book(count: int, year: int) -> None:
    """*count* contributions and count/10 expenses spread over *year*."""
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense

    general = book.create_fund("general", "General", name_km="ទូទៅ", by=None)
    promo = book.create_fund("promotion", "Promotion & petition collection", by=None)
    donors = [
        book.create_donor(parse_donor({"name_en": f"{en} {i}" if i else en,
                                       "name_km": f"{km} {i}" if km and i else km,
                                       "kind": kind, "public_display": display}), by=None)
        for i in range(20) for en, km, kind, display in DONORS
    ]  # fmt: skip
    start = date(year, 1, 1)
    for i in range(count):
        donor = donors[i % len(donors)]
        book.record_contribution(parse_contribution({
            "donor_ids": [str(donor.id)], "amount": f"{20 + (i * 37) % 980}.{i % 100:02d}",
            "currency": "CAD" if i % 9 == 0 else "USD",
            "exchange_rate": "0.73" if i % 9 == 0 else "1",
            "received_on": (start + timedelta(days=i % 365)).isoformat(),
            "fund_id": str((general if i % 3 else promo).id), "method": "cash",
            "public_display": ("initials", "default", "anonymous", "default")[i % 4],
        }), by=None)  # fmt: skip
    for i in range(count // 10):
        book.record_expense(parse_expense({
            "paid_on": (start + timedelta(days=(i * 7) % 365)).isoformat(), "payee": "Print shop",
            "amount": f"{10 + (i * 13) % 400}.50", "currency": "USD",
            "category": CATEGORIES[i % len(CATEGORIES)], "fund_id": str(promo.id),
        }), by=None)  # fmt: skip
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="contributions (1000)")
    parser.add_argument("--runs", type=int, default=3, help="warm renders per language (3)")
    parser.add_argument("--no-chromium", action="store_true", help="leave Chromium out")
    args = parser.parse_args()
    year = date.today().year - 1
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
            }
        )
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            fill_book(args.count, year)
            print(
                f"book: {args.count} contributions, {args.count // 10} expenses "
                f"in {time.perf_counter() - started:.1f} s"
            )

            from ceroc_donations.ledger.report import build_report

            started = time.perf_counter()
            data = build_report(date(year, 1, 1), date(year, 12, 31))
            print(
                f"build_report: {(time.perf_counter() - started) * 1000:.0f} ms "
                f"({len(data.contributions)} rows)"
            )
            db.session.remove()
            db.engine.dispose()

    started = time.perf_counter()
    renderer = report_renderer()
    print(f"renderer (fonts, CSS): {(time.perf_counter() - started) * 1000:.0f} ms")
    from peers import BareWeasyPrint, Chromium

    from ceroc_donations.rendering.report import render_report_html

    bare = BareWeasyPrint("report.css")
    chromium = None if args.no_chromium else Chromium(renderer.letters_dir, "report.css")
    try:
        for lang in ("en", "km"):
            html = render_report_html(data, lang, letters_dir=renderer.letters_dir)
            times, cpu, bare_cpu, bare_wall, chrome_wall, chrome_cpu = ([] for _ in range(6))
            for _run in range(args.runs + 1):  # alternating engines; the first run is cold
                started, started_cpu = time.perf_counter(), time.process_time()
                pdf = render_report_pdf(data, lang, renderer=renderer)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                started, started_cpu = time.perf_counter(), time.process_time()
                bare.pdf(html)
                bare_wall.append(time.perf_counter() - started)
                bare_cpu.append(time.process_time() - started_cpu)
                if chromium:
                    k0, started = chromium.cpu_seconds(), time.perf_counter()
                    chromium.pdf(html)
                    chrome_wall.append(time.perf_counter() - started)
                    chrome_cpu.append(chromium.cpu_seconds() - k0)
            pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
            med = statistics.median
            print(
                f"render_report_pdf[{lang}]: first {times[0]:.2f} s, warm median "
                f"{med(times[1:]):.2f} s (CPU {med(cpu[1:]):.2f} s), "
                f"{len(pdf) / 1024:.0f} KiB, {pages} pages"
            )
            print(f"  bare WeasyPrint[{lang}]: warm median {med(bare_wall[1:]):.2f} s "
                  f"(CPU {med(bare_cpu[1:]):.2f} s); ours/bare CPU "
                  f"{med(cpu[1:]) / med(bare_cpu[1:]):.2f}x")  # fmt: skip
            if chromium:
                print(f"  Chromium[{lang}]: warm median {med(chrome_wall[1:]):.2f} s "
                      f"(browser CPU {med(chrome_cpu[1:]):.2f} s)")  # fmt: skip
    finally:
        if chromium:
            chromium.close()
    print(f"peak RSS: {_peak_rss_kib() / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
