"""Benchmark of the pure letter path: LetterData → HTML → PDF/A bytes.

Run:  python bench/letters.py [--count N]
Prints, beside bare WeasyPrint and a warm Chromium on the same HTML (bench/peers.py),
alternating engines letter by letter: warm wall and CPU time per letter, the p95 of one
letter rendered again and again, then batch throughput with 1 and 2 worker processes
against bare WeasyPrint's 2 workers and 2 Chromiums.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ceroc_donations.money import Money  # noqa: E402
from ceroc_donations.rendering import (
    Donor,
    GiftLine,
    LetterData,
    LetterJob,
    LetterRenderer,
    LetterTexts,
    letter_metadata,
    render_batch,
    render_html,
)
from ceroc_donations.rendering.pdf import _peak_rss_kib, freeze_heap  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import BareWeasyPrint, Chromium, chromium_batch  # noqa: E402

DONORS = [
    ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"),
    ("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត"),
    ("Mrs. Janet Seng", "អ្នកស្រី សេង ជេណេត"),
    ("IKA", None),
]


def make_letters(count: int) -> list[LetterJob]:
    """*count* varied letters (1 in 10 a yearly statement), all with the default texts."""
    texts = LetterTexts.default()
    jobs = []
    for i in range(count):
        name_en, name_km = DONORS[i % len(DONORS)]
        day = date(2026, 1, 1) + timedelta(days=i % 360)
        amount = Money(10000 + 2500 * (i % 40), "USD")
        if i % 10 == 9:
            gifts = tuple(GiftLine(day - timedelta(days=30 * k), f"C-2026-{i:04d}-{k}",
                                   Money(10000 + 100 * k, "USD")) for k in range(4))  # fmt: skip
            total = sum((g.amount for g in gifts), Money(0, "USD"))
            data = LetterData(
                number=i + 1, reference=f"S-2026-{i:04d}", issued_on=day,
                donors=(Donor(name_en, name_km),), amount=total, gifts=gifts,
            )  # fmt: skip
            jobs.append(LetterJob(data, texts, "statement"))
        else:
            donors = (Donor(name_en, name_km),) + ((Donor("IKA"),) if i % 7 == 0 else ())
            data = LetterData(
                number=i + 1,
                reference=f"C-2026-{i:04d}",
                issued_on=day,
                received_on=day,
                donors=donors,
                amount=amount,
                occasion="Visit of MP Mu Sochua",
                occasion_km="ដំណើរទស្សនកិច្ចរបស់តំណាងរាស្ត្រ មូរ សុខហួរ",
                purpose="Petition campaign",
                language="bilingual",
            )
            jobs.append(LetterJob(data, texts, "thank_you"))
    return jobs


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="letters per batch (1000)")
    parser.add_argument("--warm", type=int, default=100, help="letters for warm timings")
    parser.add_argument("--same", type=int, default=100, help="renders of one letter (p95)")
    parser.add_argument("--no-chromium", action="store_true", help="leave Chromium out")
    args = parser.parse_args()
    jobs = make_letters(max(args.count, args.warm))
    htmls = [render_html(job.data, job.texts, job.kind) for job in jobs]

    started = time.perf_counter()
    renderer = LetterRenderer()
    job = jobs[0]
    html = render_html(job.data, job.texts, job.kind)
    pdf = renderer.to_pdf(html, **letter_metadata(job.data, job.texts, job.kind))
    print(
        f"cold first letter (incl. renderer setup): {1000 * (time.perf_counter() - started):.0f} ms"
    )
    bare = BareWeasyPrint()
    bare.pdf(html)
    chromium = None if args.no_chromium else Chromium(renderer.letters_dir)
    if chromium:
        chromium.pdf(html)
    freeze_heap()  # warm: what a worker does after its first letter

    # Alternating engines, letter by letter, on the same HTML.
    ours, ours_cpu, bare_wall, bare_cpu, chrome_wall, chrome_cpu, sizes, rss = (
        [] for _ in range(8)
    )
    for i, job in enumerate(jobs[: args.warm]):
        t0, c0 = time.perf_counter(), time.process_time()
        html = render_html(job.data, job.texts, job.kind)
        pdf = renderer.to_pdf(html, **letter_metadata(job.data, job.texts, job.kind))
        t1, c1 = time.perf_counter(), time.process_time()
        bare.pdf(html)
        t2, c2 = time.perf_counter(), time.process_time()
        ours.append(t1 - t0)
        ours_cpu.append(c1 - c0)
        bare_wall.append(t2 - t1)
        bare_cpu.append(c2 - c1)
        if chromium:
            k0 = chromium.cpu_seconds()
            t3 = time.perf_counter()
            chromium.pdf(html)
            chrome_wall.append(time.perf_counter() - t3)
            # The browser's own CPU plus ours driving it (small).
            chrome_cpu.append(chromium.cpu_seconds() - k0)
        sizes.append(len(pdf))
        if i % 25 == 0:
            rss.append(_rss_kib())
    med = statistics.median
    print(f"warm letters, alternating engines (n={len(ours)}), wall / CPU median:")
    print(f"  ours            {1000 * med(ours):6.1f} ms / {1000 * med(ours_cpu):6.1f} ms"
          f"  (p95 {1000 * percentile(ours, 0.95):.1f} ms over a varied mix)")  # fmt: skip
    print(f"  bare WeasyPrint {1000 * med(bare_wall):6.1f} ms / {1000 * med(bare_cpu):6.1f} ms"
          f"  ours/bare {med(ours) / med(bare_wall):.2f}x wall,"
          f" {med(ours_cpu) / med(bare_cpu):.2f}x CPU")  # fmt: skip
    if chromium:
        print(f"  Chromium        {1000 * med(chrome_wall):6.1f} ms / "
              f"{1000 * med(chrome_cpu):6.1f} ms  ours/Chromium "
              f"{med(ours) / med(chrome_wall):.2f}x wall, "
              f"{med(ours_cpu) / med(chrome_cpu):.2f}x CPU"
              f" (browser tree RSS {chromium.rss_kib() / 1024:.0f} MiB)")  # fmt: skip
    print(f"  our process RSS while rendering (MiB, every 25 letters): "
          f"{[round(kib / 1024) for kib in rss]}")  # fmt: skip
    print(
        f"PDF size: median {statistics.median(sizes) / 1024:.1f} KiB,"
        f" max {max(sizes) / 1024:.1f} KiB"
    )

    # One letter again and again: the tail is ours (GC, caches), not the letter's.
    # CPU time too: on a shared machine the wall-clock tail is mostly other processes'.
    job = jobs[1]
    same, same_cpu = [], []
    for _ in range(args.same):
        t0, c0 = time.perf_counter(), time.process_time()
        html = render_html(job.data, job.texts, job.kind)
        renderer.to_pdf(html, **letter_metadata(job.data, job.texts, job.kind))
        same.append(time.perf_counter() - t0)
        same_cpu.append(time.process_time() - c0)
    print(
        f"one letter x{len(same)}: median {1000 * med(same):.1f} ms, "
        f"p95 {1000 * percentile(same, 0.95):.1f} ms, p95/median "
        f"{percentile(same, 0.95) / med(same):.2f}; CPU median {1000 * med(same_cpu):.1f} ms, "
        f"p95 {1000 * percentile(same_cpu, 0.95):.1f} ms, p95/median "
        f"{percentile(same_cpu, 0.95) / med(same_cpu):.2f}"
    )
    if chromium:
        chromium.close()

    batch = jobs[: args.count]
    results = {}
    for workers in (1, 2):
        stats: dict[int, int] = {}
        marks: list[float] = []

        def progress(done: int, total: int, marks=marks, workers=workers) -> None:
            if done in (workers * 4, total):  # after each worker's first chunk, and at the end
                marks.append(time.perf_counter())

        t0 = time.perf_counter()
        pdfs = render_batch(batch, workers=workers, stats=stats, progress=progress)
        elapsed = time.perf_counter() - t0
        # Steady state: after the workers' start-up and first chunk (bare's pool is warm).
        steady = (len(pdfs) - workers * 4) / (marks[-1] - marks[0])
        results[f"ours {workers}"] = steady
        peaks = ", ".join(f"{kib / 1024:.0f} MiB" for kib in stats.values())
        print(
            f"batch of {len(pdfs)}, ours, {workers} worker(s): {elapsed:.1f} s,"
            f" {len(pdfs) / elapsed:.1f} letters/s incl. worker start-up, {steady:.1f}"
            f" letters/s once started; peak RSS per worker: {peaks}"
        )
    pool = BareWeasyPrint(workers=2)
    try:
        pool.batch(htmls[:12])  # start and warm both workers, as ours are warm after one
        t0 = time.perf_counter()
        done = pool.batch(htmls[: args.count])
        elapsed = time.perf_counter() - t0
    finally:
        pool.close()
    results["bare 2"] = done / elapsed
    print(f"batch of {done}, bare WeasyPrint, 2 workers (warm): {elapsed:.1f} s,"
          f" {done / elapsed:.1f} letters/s")  # fmt: skip
    if not args.no_chromium:
        elapsed = chromium_batch(htmls[: args.count], renderer.letters_dir, "letter.css", 2)
        results["chromium 2"] = args.count / elapsed
        print(f"batch of {args.count}, Chromium, 2 browsers (warm): {elapsed:.1f} s,"
              f" {args.count / elapsed:.1f} letters/s")  # fmt: skip
    line = f"2 workers: ours/bare {results['ours 2'] / results['bare 2']:.2f}x"
    if "chromium 2" in results:
        line += f", ours/Chromium {results['ours 2'] / results['chromium 2']:.2f}x"
    print(line + " (throughput; >1 is faster)")


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; peak RSS now "
        f"{_peak_rss_kib() / 1024:.0f} MiB"
    )
    main()
