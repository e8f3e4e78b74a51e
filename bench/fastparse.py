"""What parsing the HTML costs: tinyhtml5 (WeasyPrint's own) against expat (fastparse).

Run:  python bench/fastparse.py [--count 60] [--rounds 4] [--gifts 1000]
In one process, CPU time (``time.process_time``): the parse of *count* distinct letters'
HTML by each parser (min and median of 5 passes), whole letters rendered by
``LetterRenderer.render_letter`` with ``fast_parse`` on and off (alternating letter by
letter, *rounds* times; the paired difference is per letter and round), and the report of
*gifts* gifts: its parse and ``to_pdf`` (2 each, alternating). About a minute.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tinyhtml5  # noqa: E402

from ceroc_donations.money import Money  # noqa: E402
from ceroc_donations.rendering import (  # noqa: E402
    Donor,
    LetterRenderer,
    LetterTexts,
    Verification,
    fastparse,
    render_html,
)
from ceroc_donations.rendering.report import render_report_html, report_metadata  # noqa: E402
from tests.rendering_support import sample_letter, sample_report  # noqa: E402

NAMES = [
    ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"),
    ("Sok Dara", "សុខ ដារា"),
    ("IKA", None),
    ("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត"),
    ("Mrs. Janet Seng", "អ្នកស្រី សេង ជេណេត"),
]


def letters(count: int):
    """*count* distinct thank-you letters: three languages, QR footer, some addressed."""
    for i in range(count):
        en, km = NAMES[i % len(NAMES)]
        code = f"AB{i:03d}-FGHJK"
        yield sample_letter(
            number=100 + i,
            reference=f"C-2026-{100 + i:04d}",
            donors=(Donor(f"{en} {i}", km and f"{km} {i}"),),
            amount=Money(1000 + 137 * i, "USD"),
            language=("bilingual", "en", "km")[i % 3],
            verification=Verification(code, f"https://ceroc.example/v/{code}"),
            address=("Sok Dara", f"{i} Main St") if i % 4 == 0 else (),
        )


def per_item_ms(parse, items, passes: int = 5) -> tuple[float, float]:
    """Min and median over *passes* of the CPU time per item."""
    times = []
    for _ in range(passes):
        start = time.process_time()
        for item in items:
            parse(item)
        times.append((time.process_time() - start) / len(items) * 1000)
    return min(times), statistics.median(times)


def tiny(html: str):
    return tinyhtml5.parse(html, namespace_html_elements=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--gifts", type=int, default=1000)
    args = parser.parse_args()

    texts = LetterTexts.default()
    data = list(letters(args.count))
    htmls = [render_html(d, texts) for d in data]
    assert len(set(htmls)) == len(htmls), "letters must differ"
    assert all(fastparse.parse(h) is not None for h in htmls), "a letter left to tinyhtml5"
    size = sum(map(len, htmls)) // len(htmls)
    t, f = per_item_ms(tiny, htmls), per_item_ms(fastparse.parse, htmls)
    print(f"parse, {len(htmls)} letters of {size} characters, per letter (min / median):")
    print(f"  tinyhtml5 {t[0]:.3f} / {t[1]:.3f} ms, expat {f[0]:.3f} / {f[1]:.3f} ms, "
          f"{t[1] / f[1]:.1f}x")  # fmt: skip

    fast, slow = LetterRenderer(), LetterRenderer(fast_parse=False)
    for renderer in (fast, slow):  # warm: fonts, stylesheets, caches
        for letter in data[:3]:
            renderer.render_letter(letter, texts)
    cpu = {"tinyhtml5": [], "expat": []}
    for round_ in range(args.rounds):
        for i, letter in enumerate(data):
            pair = [("tinyhtml5", slow), ("expat", fast)]
            for name, renderer in pair if (i + round_) % 2 == 0 else reversed(pair):
                start = time.process_time()
                renderer.render_letter(letter, texts)
                cpu[name].append((time.process_time() - start) * 1000)
    saved = [a - b for a, b in zip(cpu["tinyhtml5"], cpu["expat"], strict=True)]
    median = {name: statistics.median(times) for name, times in cpu.items()}
    mean = {name: statistics.mean(times) for name, times in cpu.items()}
    print(f"render_letter, {len(saved)} renders each (median / mean CPU):")
    print(f"  tinyhtml5 {median['tinyhtml5']:.1f} / {mean['tinyhtml5']:.1f} ms, "
          f"expat {median['expat']:.1f} / {mean['expat']:.1f} ms; "
          f"saved per letter (paired): median {statistics.median(saved):.2f} ms, "
          f"mean {statistics.mean(saved):.2f} ms")  # fmt: skip

    report = sample_report(args.gifts)
    for lang in ("en", "km"):
        html = render_report_html(report, lang)
        assert fastparse.parse(html) is not None, "the report left to tinyhtml5"
        t, f = per_item_ms(tiny, [html], 3), per_item_ms(fastparse.parse, [html], 3)
        print(f"report of {args.gifts} gifts, {lang}, {len(html)} characters: parse "
              f"tinyhtml5 {t[1]:.1f} ms, expat {f[1]:.1f} ms")  # fmt: skip
    fast = LetterRenderer(stylesheet="report.css")
    slow = LetterRenderer(stylesheet="report.css", fast_parse=False)
    html, metadata = render_report_html(report, "en"), report_metadata(report, "en")
    warm = render_report_html(sample_report(40), "en")
    cpu = {"tinyhtml5": [], "expat": []}
    for renderer in (fast, slow):
        renderer.to_pdf(warm, **metadata)
    for round_ in range(2):
        pair = [("tinyhtml5", slow), ("expat", fast)]
        for name, renderer in pair if round_ % 2 == 0 else reversed(pair):
            start = time.process_time()
            renderer.to_pdf(html, **metadata)
            cpu[name].append(time.process_time() - start)
    print(f"report of {args.gifts} gifts, en, to_pdf CPU: "
          f"tinyhtml5 {', '.join(f'{s:.2f}' for s in cpu['tinyhtml5'])} s, "
          f"expat {', '.join(f'{s:.2f}' for s in cpu['expat'])} s")  # fmt: skip


if __name__ == "__main__":
    main()
