"""What the report's design costs: ``python bench/report_css.py [--lang km] [--rounds 3]``.

Renders the same report (a year of 1,000 gifts, as bench/report.py) with ``report.css`` and
with variants of it (rules appended, or the HTML changed), alternating in one process, and
prints each variant's median CPU time, its ratio to the design as it is, and its pages.
The variants are the usual suspects for WeasyPrint's per-cell layout cost: collapsed
borders per cell, ``nowrap`` cells that need no line breaking, ``overflow-wrap``, rows
kept whole across pages, and narrower or wider columns.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pypdf  # noqa: E402

STRIPES = (
    "table { border-collapse: separate; border-spacing: 0; }"
    " table.list th, table.list td { border-bottom: none; }"
    " table.list tbody tr:nth-child(even) { background: #eef0f3; }"
)
NOWRAP = (
    "table.list td:nth-child(1), table.list td:nth-child(2), table.list td.num"
    " { white-space: nowrap; }"
)
#: The list's columns before they were widened for the fund's name (41 pages, not 34).
NARROW_FUND = (
    "table.list .ref { width: 15%; } table.list .donor { width: 31%; }"
    " table.list .fund { width: 17%; } table.list.with-base .ref { width: 13%; }"
    " table.list.with-base .donor { width: 27%; } table.list.with-base .fund { width: 14%; }"
)
VARIANTS: list[tuple[str, str]] = [
    ("report.css as it is", ""),
    ("separate borders, striped rows", STRIPES),
    ("nowrap date, reference, amounts", NOWRAP),
    ("no overflow-wrap in cells", "td { overflow-wrap: normal; }"),
    ("rows may break across pages", "tr { break-inside: auto; }"),
    ("narrower fund column", NARROW_FUND),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "km"), default="km")
    parser.add_argument("--count", type=int, default=1000, help="contributions (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed renders each (3)")
    args = parser.parse_args()
    from khmer_text import report_data

    from ceroc_donations.rendering.letter import LETTERS_DIR
    from ceroc_donations.rendering.pdf import LetterRenderer
    from ceroc_donations.rendering.report import render_report_html, report_metadata

    data = report_data(args.count)
    html = render_report_html(data, args.lang)
    meta = report_metadata(data, args.lang)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (name, extra) in enumerate(VARIANTS):
            folder = Path(tmp) / f"design-{number}"
            shutil.copytree(LETTERS_DIR, folder)
            css = folder / "report.css"
            css.write_text(css.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
            renderer = LetterRenderer(folder, stylesheet="report.css", freeze_after_first=True)
            pdf = renderer.to_pdf(html, **meta)  # warm: fonts, CSS
            pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
            runs.append((name, renderer, pages, []))
        for _round in range(args.rounds):
            for _name, renderer, _pages, times in runs:
                started = time.process_time()
                renderer.to_pdf(html, **meta)
                times.append(time.process_time() - started)
    base = statistics.median(runs[0][3])
    for name, _renderer, pages, times in runs:
        median = statistics.median(times)
        print(f"{args.lang} {name:34} CPU {median:.2f} s ({base / median:.2f}x), {pages} pages; "
              f"runs {', '.join(f'{t:.2f}' for t in times)}")  # fmt: skip


if __name__ == "__main__":
    main()
