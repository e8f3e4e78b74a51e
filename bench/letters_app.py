"""Benchmark: a letter generated through the app vs the pure rendering path.

Run:  python bench/letters_app.py [--count N]
Through the app = read the gift from SQLite into LetterData, take the next letter number
under the write lock, render, write the PDF to the archive (fsync), insert the row,
audit, commit — one transaction per letter, as the batch worker does. The pure path
renders the same LetterData with the same renderer. Prints median and p95 per letter
and the overhead of the app.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from ceroc_donations import create_app  # noqa: E402
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_contribution, parse_donor  # noqa: E402
from ceroc_donations.book.models import Contribution
from ceroc_donations.extensions import db  # noqa: E402
from ceroc_donations.letters import archive, jobs  # noqa: E402
from ceroc_donations.letters import data as letter_data  # noqa: E402
from ceroc_donations.letters import texts as letter_texts  # noqa: E402
from ceroc_donations.letters.models import LetterBatch  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="letters (100)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
                "ARCHIVE_DIR": f"{tmp}/letters",
                "RECEIPTS_DIR": f"{tmp}/r",
            }
        )
        with app.app_context():
            db.create_all()
            fund = book.create_fund("general", "General", by=None)
            donor = book.create_donor(
                parse_donor({"name_en": "CNRP Minnesota", "name_km": "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"}),
                by=None,
            )
            for i in range(2 * args.count + 1):
                book.record_contribution(
                    parse_contribution(
                        {
                            "donor_ids": [str(donor.id)],
                            "amount": f"{100 + i}.00",
                            "currency": "USD",
                            "exchange_rate": "1",
                            "received_on": "2026-06-15",
                            "fund_id": str(fund.id),
                            "method": "cash",
                            "public_display": "default",
                        }
                    ),
                    by=None,
                )
            db.session.commit()
            ids = list(
                db.session.execute(select(Contribution.id).order_by(Contribution.id)).scalars()
            )
            issued = date(2026, 11, 27)
            # Warm-up: fonts and stylesheets parsed once per process.
            archive.generate_thank_you(
                db.session.get(Contribution, ids[0]), by=None, issued_on=issued
            )
            db.session.commit()

            app_times = []
            for cid in ids[1 : args.count + 1]:
                start = time.perf_counter()
                c = db.session.get(Contribution, cid)
                archive.generate_thank_you(c, by=None, issued_on=issued)
                db.session.commit()
                app_times.append(time.perf_counter() - start)

            texts = letter_texts.current_texts()[0]
            pure_times = []
            for n, cid in enumerate(ids[1 : args.count + 1], 1):
                c = db.session.get(Contribution, cid)
                data = letter_data.thank_you_data(c, c.donors, number=10_000 + n, issued_on=issued)
                start = time.perf_counter()
                archive.render_pdf(data, texts)
                pure_times.append(time.perf_counter() - start)

            batch = jobs.create_batch(ids[args.count + 1 :], by=None)
            db.session.commit()
            start = time.perf_counter()
            jobs.run_batch(batch.id, issued_on=issued)
            batch_seconds = time.perf_counter() - start
            assert db.session.get(LetterBatch, batch.id).status == "done"

    def ms(values):
        return (
            f"median {statistics.median(values) * 1000:6.1f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:6.1f} ms"
        )

    print(f"letters: {args.count} each way (SQLite file, WAL)")
    print(f"pure render_pdf        : {ms(pure_times)}")
    print(f"through the app        : {ms(app_times)}")
    overhead = statistics.median(app_times) - statistics.median(pure_times)
    print(
        f"app overhead per letter: {overhead * 1000:6.1f} ms (DB read, number, fsync, "
        "row, audit, commit)"
    )
    print(
        f"run_batch ({args.count} gifts): {batch_seconds:.1f} s = "
        f"{args.count / batch_seconds:.1f} letters/s"
    )


if __name__ == "__main__":
    main()
