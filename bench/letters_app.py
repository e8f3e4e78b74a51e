"""Benchmark: letters made through the app, beside bare WeasyPrint and Chromium.

Run:  python bench/letters_app.py [--count N] [--batch N] [--rounds R] [--no-chromium]

1. **One letter at a time**, as the board makes one: read the gift, take the next number
   under the write lock, render, write the PDF to the archive (fsync), insert the row,
   audit, commit. Beside it the pure ``render_pdf`` of the same data: the app's overhead.
2. **Batches through the app**: ``letters.jobs.run_batch`` as the queued job runs it
   (one query per group of gifts, letters rendered in ``LETTER_BATCH_WORKERS`` = 2 worker
   processes while the job thread archives the ones before them, commits in groups),
   beside the peers of ``bench/peers.py`` given the very HTML of the letters just made:
   bare WeasyPrint in 2 worker processes and 2 warm Chromiums. Each round runs the three
   one after another, in a rotating order, so that a busy machine weighs on all of them;
   all three are warm (started and one letter done) before they are timed. CPU is that of
   every process of each engine (ours: the job's process and its render workers); memory
   is their resident set at the end.

The bare peer is stock WeasyPrint 70 (none of ``rendering.pdf.PATCHES`` installed in its
workers) with the same fonts and stylesheets (parsed once), the same fetcher-free HTML,
parsed by WeasyPrint's own tinyhtml5; it writes a plain PDF: no PDF/A, no tags, no
``/ActualText``, no metadata, and pydyf's own zlib level 9 (we deflate at 6, see
``rendering/pdfwrite.py``). It does nothing else: no database, no files. A second bare
peer, ``bare-a3a``, is the same stock WeasyPrint asked for the kind of file we archive
(``pdf_variant="pdf/a-3a"``: PDF/A-3a, tagged), still without our patches, database or
files. The peers get the very HTML of our letters, QR code included: when a peer goes
first in a round, the HTML of the same gifts with numbers and codes of their own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask import current_app  # noqa: E402
from peers import (  # noqa: E402
    BareWeasyPrint,
    chromium_batch,
    cpu_by_pid,
    cpu_since,
    parent_of,
    pss_kib,
    rss_kib,
)  # fmt: skip

from ceroc_donations import create_app  # noqa: E402
from ceroc_donations.book import service as book  # noqa: E402
from ceroc_donations.book.inputs import parse_contribution, parse_donor  # noqa: E402
from ceroc_donations.book.models import Contribution  # noqa: E402
from ceroc_donations.extensions import db  # noqa: E402
from ceroc_donations.letters import archive, jobs, verification  # noqa: E402
from ceroc_donations.letters import data as letter_data  # noqa: E402
from ceroc_donations.letters import texts as letter_texts  # noqa: E402
from ceroc_donations.letters.models import LetterBatch  # noqa: E402
from ceroc_donations.rendering import LETTERS_DIR, render_html  # noqa: E402

DONORS = [
    ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"),
    ("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត"),
    ("Mrs. Janet Seng", "អ្នកស្រី សេង ជេណេត"),
    ("IKA", ""),
]
ISSUED = date(2026, 11, 27)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def record_gifts(count: int, donors: list, fund) -> list[int]:
    ids = []
    for i in range(count):
        c = book.record_contribution(
            parse_contribution(
                {
                    "donor_ids": [str(donors[i % len(donors)].id)],
                    "amount": f"{100 + 25 * (i % 40)}.00",
                    "currency": "USD",
                    "exchange_rate": "1",
                    "received_on": f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}",
                    "fund_id": str(fund.id),
                    "method": "cash",
                    "occasion": "Visit of MP Mu Sochua",
                    "occasion_km": "ដំណើរទស្សនកិច្ចរបស់តំណាងរាស្ត្រ មូរ សុខហួរ",
                    "purpose": "Petition campaign",
                    "public_display": "default",
                }
            ),
            by=None,
        )
        ids.append(c.id)
    db.session.commit()
    return ids


def ours_batch(gift_ids: list[int]) -> dict:
    """Run one batch through the app; wall, CPU of the job's process and its workers."""
    batch = jobs.create_batch(gift_ids, by=None)
    db.session.commit()
    pool = jobs._render_pool(current_app.config["LETTER_BATCH_WORKERS"])  # noqa: SLF001
    workers = pool.pids()
    main0, cpu0, wall0 = time.process_time(), cpu_by_pid(workers), time.perf_counter()
    jobs.run_batch(batch.id, issued_on=ISSUED)
    wall = time.perf_counter() - wall0
    main = time.process_time() - main0
    workers = pool.pids()
    cpu = main + cpu_since(cpu0, workers)
    batch = db.session.get(LetterBatch, batch.id)
    assert batch.status == "done", batch.error
    letters = jobs.batch_letters(batch)
    htmls = [
        render_html(letter_data.data_of(letter), letter_texts.texts_of(letter.text_version))
        for letter in letters
    ]
    # The job's process, its render workers and the forkserver they were forked from.
    pids = [os.getpid(), *workers, *{parent_of(pid) for pid in workers} - {None}]
    return {"wall": wall, "cpu": cpu, "main": main, "n": len(letters), "htmls": htmls,
            "rss_kib": rss_kib(pids), "pss_kib": pss_kib(pids),
            "render_rss_kib": rss_kib(pids[1:])}  # fmt: skip


def bare_batch(pool: BareWeasyPrint, htmls: list[str]) -> dict:
    main0, cpu0, wall0 = time.process_time(), cpu_by_pid(pool.pids()), time.perf_counter()
    done = pool.batch(htmls)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - main0 + cpu_since(cpu0, pool.pids())
    pids = [*pool.pids(), *{parent_of(pid) for pid in pool.pids()} - {None}]
    return {"wall": wall, "cpu": cpu, "n": done, "rss_kib": rss_kib(pids), "pss_kib": pss_kib(pids)}


def chrome_batch(htmls: list[str]) -> dict:
    stats: dict = {}
    wall = chromium_batch(htmls, LETTERS_DIR, "letter.css", 2, stats)
    return {"wall": wall, "cpu": stats["cpu"], "n": len(htmls), "rss_kib": stats["rss_kib"],
            "pss_kib": stats["pss_kib"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="single letters (60)")
    parser.add_argument("--batch", type=int, default=200, help="letters per batch (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three (3)")
    parser.add_argument("--no-chromium", action="store_true", help="leave Chromium out")
    args = parser.parse_args()
    engines = ["ours", "bare", "bare-a3a"] + ([] if args.no_chromium else ["chromium"])
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
                "ARCHIVE_DIR": f"{tmp}/letters",
                "RECEIPTS_DIR": f"{tmp}/r",
                "LETTER_BATCH_WORKERS": 2,
            }
        )
        with app.app_context():
            db.create_all()
            fund = book.create_fund("general", "General", by=None)
            donors = [
                book.create_donor(parse_donor({"name_en": en, "name_km": km}), by=None)
                for en, km in DONORS
            ]
            single = record_gifts(2 * args.count + 1, donors, fund)
            batches = [record_gifts(args.batch, donors, fund) for _ in range(args.rounds)]
            warm = record_gifts(6, donors, fund)

            # 1. Batches: all three warm first.
            texts = letter_texts.current_texts()[0]
            warmed = ours_batch(warm)
            bare = BareWeasyPrint(workers=2)
            bare_a3a = BareWeasyPrint(workers=2, pdf_variant="pdf/a-3a")
            peers = {"bare": bare, "bare-a3a": bare_a3a}
            try:
                for peer in peers.values():
                    peer.batch(warmed["htmls"] * 2)  # both workers started and warm
                results: dict[str, list[dict]] = {engine: [] for engine in engines}
                for r, gift_ids in enumerate(batches):
                    order = engines[r % len(engines) :] + engines[: r % len(engines)]
                    htmls = None
                    for engine in order:
                        if engine == "ours":
                            result = ours_batch(gift_ids)
                            htmls = result.pop("htmls")
                        else:
                            if htmls is None:  # the peers go first: the same letters' HTML
                                htmls = preview_htmls(gift_ids, texts)
                            result = (
                                bare_batch(peers[engine], htmls)
                                if engine in peers
                                else chrome_batch(htmls)
                            )
                        result["round"] = r + 1
                        results[engine].append(result)
                        print(f"round {r + 1}: {engine:8s} {result['n']} letters in "
                              f"{result['wall']:.2f} s, {result['n'] / result['wall']:.1f}/s, "
                              f"CPU {1000 * result['cpu'] / result['n']:.1f} ms/letter, "
                              f"RSS {result['rss_kib'] / 1024:.0f} MiB, "
                              f"PSS {result['pss_kib'] / 1024:.0f} MiB"
                              + (f" (job's own process {1000 * result['main'] / result['n']:.1f}"
                                 " ms/letter; render processes' RSS "
                                 f"{result['render_rss_kib'] / 1024:.0f} MiB)"
                                 if "main" in result else ""),
                              flush=True)  # fmt: skip
            finally:
                for peer in peers.values():
                    peer.close()

            # 2. One letter at a time, through the app and pure (after the batches: the
            # batch job's process renders nothing itself, so its memory is measured as is).
            archive.generate_thank_you(
                db.session.get(Contribution, single[0]), by=None, issued_on=ISSUED
            )
            db.session.commit()
            app_times = []
            for cid in single[1 : args.count + 1]:
                start = time.perf_counter()
                archive.generate_thank_you(
                    db.session.get(Contribution, cid), by=None, issued_on=ISSUED
                )
                db.session.commit()
                app_times.append(time.perf_counter() - start)
            pure_times = []
            for n, cid in enumerate(single[args.count + 1 :], 1):
                c = db.session.get(Contribution, cid)
                data = letter_data.thank_you_data(c, c.donors, number=10_000 + n, issued_on=ISSUED)
                start = time.perf_counter()
                archive.render_pdf(data, texts)
                pure_times.append(time.perf_counter() - start)

    def ms(values):
        return (
            f"median {statistics.median(values) * 1000:6.1f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:6.1f} ms"
        )

    print(f"\nsingle letters: {args.count} each way (SQLite file, WAL)")
    print(f"  pure render_pdf        : {ms(pure_times)}")
    print(f"  through the app        : {ms(app_times)}")
    overhead = statistics.median(app_times) - statistics.median(pure_times)
    print(f"  app overhead per letter: {overhead * 1000:6.1f} ms (DB read, number, fsync, "
          "row, audit, commit)")  # fmt: skip
    print(f"\nbatches of {args.batch}, 2 workers each, {args.rounds} rounds (median of rounds):")
    rate = {e: statistics.median(x["n"] / x["wall"] for x in results[e]) for e in engines}
    cpu = {e: statistics.median(x["cpu"] / x["n"] for x in results[e]) for e in engines}
    rss = {e: max(x["rss_kib"] for x in results[e]) for e in engines}
    pss = {e: max(x["pss_kib"] for x in results[e]) for e in engines}
    for e in engines:
        print(f"  {e:8s} {rate[e]:5.1f} letters/s, CPU {1000 * cpu[e]:5.1f} ms/letter, "
              f"RSS {rss[e] / 1024:5.0f} MiB, PSS {pss[e] / 1024:5.0f} MiB")  # fmt: skip
    per_round = [o["n"] / o["wall"] / (b["n"] / b["wall"])
                 for o, b in zip(results["ours"], results["bare"], strict=True)]  # fmt: skip
    rounds = ", ".join(f"{x:.2f}" for x in per_round)
    print(f"  ours/bare throughput {rate['ours'] / rate['bare']:.2f}x (rounds: {rounds}), "
          f"CPU {cpu['ours'] / cpu['bare']:.2f}x")  # fmt: skip
    per_round = [o["n"] / o["wall"] / (b["n"] / b["wall"])
                 for o, b in zip(results["ours"], results["bare-a3a"], strict=True)]  # fmt: skip
    rounds = ", ".join(f"{x:.2f}" for x in per_round)
    print(f"  ours/bare-a3a (stock WeasyPrint, PDF/A-3a) throughput "
          f"{rate['ours'] / rate['bare-a3a']:.2f}x (rounds: {rounds}), "
          f"CPU {cpu['ours'] / cpu['bare-a3a']:.2f}x")  # fmt: skip
    if "chromium" in rate:
        print(f"  ours/Chromium throughput {rate['ours'] / rate['chromium']:.2f}x, "
              f"CPU {cpu['ours'] / cpu['chromium']:.2f}x, "
              f"memory {rss['ours'] / rss['chromium']:.2f}x RSS, "
              f"{pss['ours'] / pss['chromium']:.2f}x PSS")  # fmt: skip


def preview_htmls(gift_ids: list[int], texts) -> list[str]:
    """The HTML of the letters *gift_ids* will get (numbers aside), for a peer that runs
    before ours in a round."""
    htmls = []
    for n, cid in enumerate(gift_ids, 1):
        c = db.session.get(Contribution, cid)
        data = letter_data.thank_you_data(c, c.donors, number=900_000 + n, issued_on=ISSUED)
        htmls.append(render_html(verification.verified(data, "thank_you", 1), texts))
    return htmls


if __name__ == "__main__":
    main()
