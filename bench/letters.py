"""Benchmark of the pure letter path: LetterData → HTML → PDF/A bytes.

Run:  python bench/letters.py [--count N]
Prints: cold first letter, warm median/p95, batch throughput with 1 and 2 worker
processes, peak RSS per worker, PDF size, and the ratio to bare WeasyPrint.
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
from ceroc_donations.rendering.pdf import _peak_rss_kib  # noqa: E402

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
    args = parser.parse_args()
    jobs = make_letters(max(args.count, args.warm))

    started = time.perf_counter()
    renderer = LetterRenderer()
    job = jobs[0]
    html = render_html(job.data, job.texts, job.kind)
    pdf = renderer.to_pdf(html, **letter_metadata(job.data, job.texts, job.kind))
    print(
        f"cold first letter (incl. renderer setup): {1000 * (time.perf_counter() - started):.0f} ms"
    )

    from weasyprint import HTML

    warm, warm_cpu, bare, sizes, rss = [], [], [], [], []
    for i, job in enumerate(jobs[: args.warm]):
        t0, c0 = time.perf_counter(), time.process_time()
        html = render_html(job.data, job.texts, job.kind)
        pdf = renderer.to_pdf(html, **letter_metadata(job.data, job.texts, job.kind))
        t1 = time.perf_counter()
        warm_cpu.append(time.process_time() - c0)
        # Bare WeasyPrint on the same HTML: same reused FontConfiguration and CSS,
        # default fetcher, no PDF/A, no metadata.
        HTML(string=html).write_pdf(stylesheets=renderer.stylesheets,
                                    font_config=renderer.font_config)  # fmt: skip
        t2 = time.perf_counter()
        warm.append(t1 - t0)
        bare.append(t2 - t1)
        sizes.append(len(pdf))
        if i % 25 == 0:
            rss.append(_rss_kib())
    ms = [1000 * w for w in warm]
    print(
        f"warm letter: median {statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms"
        f" (n={len(ms)})"
    )
    # CPU time is what a busy (shared) machine distorts least.
    print(f"warm letter CPU time: median {1000 * statistics.median(warm_cpu):.1f} ms")
    print(
        f"bare WeasyPrint: median {1000 * statistics.median(bare):.1f} ms;"
        f" overhead ratio {statistics.median(warm) / statistics.median(bare):.2f}x"
    )
    print(
        f"PDF size: median {statistics.median(sizes) / 1024:.1f} KiB,"
        f" max {max(sizes) / 1024:.1f} KiB"
    )
    print(f"in-process RSS while rendering (KiB, every 25 letters): {rss}")

    for workers in (1, 2):
        stats: dict[int, int] = {}
        t0 = time.perf_counter()
        pdfs = render_batch(jobs[: args.count], workers=workers, stats=stats)
        elapsed = time.perf_counter() - t0
        peaks = ", ".join(f"{kib / 1024:.0f} MiB" for kib in stats.values())
        print(
            f"batch of {len(pdfs)} with {workers} worker(s): {elapsed:.1f} s,"
            f" {len(pdfs) / elapsed:.1f} letters/s (incl. worker start-up);"
            f" peak RSS per worker: {peaks}"
        )


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
