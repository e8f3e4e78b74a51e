"""How much Khmer a reader gets back out of our PDFs: ``python bench/khmer_text.py``.

For each document (letters, a statement, the Khmer and English transparency reports) it
takes the Khmer words of its HTML (ICU's, see ``rendering.khmer.khmer_words``) and
prints how many are found by a plain search of ``pdftotext -raw`` (Poppler, as Evince and
most Linux tools read) and of ``pypdf``'s ``extract_text``, with our ``/ActualText``
spans (``rendering/actualtext.py``), with ``--compare`` also without them, and with
``--chromium`` for Chromium printing the same HTML (bench/peers.py).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pypdf  # noqa: E402

from ceroc_donations.rendering import actualtext  # noqa: E402
from ceroc_donations.rendering.khmer import ZWSP, khmer_words  # noqa: E402


def pdftotext(pdf: bytes) -> str:
    """``pdftotext -raw`` of *pdf*, U+200B removed."""
    text = subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, check=True,
                          capture_output=True).stdout.decode()  # fmt: skip
    return text.replace(ZWSP, "")


def pypdf_text(pdf: bytes) -> str:
    """``pypdf``'s text of every page of *pdf*, U+200B removed."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() for page in reader.pages).replace(ZWSP, "")


def found(words: list[str], text: str) -> int:
    return sum(word in text for word in words)


def documents(report_count: int) -> list[tuple[str, str, callable, str]]:
    """``(name, html, html → pdf, stylesheet)`` for each document measured."""
    from ceroc_donations.rendering import LetterRenderer, LetterTexts, letter_metadata
    from ceroc_donations.rendering.letter import render_html
    from ceroc_donations.rendering.report import (
        render_report_html,
        report_metadata,
        report_renderer,
    )
    from tests.rendering_support import sample_letter, sample_statement

    renderer = LetterRenderer()
    texts = LetterTexts.default()
    docs = []
    for name, data, kind in (
        ("letter (bilingual)", sample_letter(), "thank_you"),
        ("letter (Khmer)", sample_letter(language="km"), "thank_you"),
        ("statement (bilingual)", sample_statement(), "statement"),
    ):
        html = render_html(data, texts, kind)
        meta = letter_metadata(data, texts, kind)
        docs.append((name, html, lambda html, meta=meta: renderer.to_pdf(html, **meta),
                     "letter.css"))  # fmt: skip
    data = report_data(report_count)
    report = report_renderer()
    for lang in ("km", "en"):
        html = render_report_html(data, lang, letters_dir=report.letters_dir)
        meta = report_metadata(data, lang)
        name = f"report ({lang}, {report_count} gifts)"
        docs.append((name, html, lambda html, meta=meta: report.to_pdf(html, **meta),
                     "report.css"))  # fmt: skip
    return docs


def report_data(count: int):
    """A year's report of *count* gifts, from a throw-away book (as bench/report.py)."""
    from report import fill_book

    from ceroc_donations import create_app
    from ceroc_donations.extensions import db
    from ceroc_donations.ledger.report import build_report

    year = date.today().year - 1
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite"})  # fmt: skip
        with app.app_context():
            db.create_all()
            fill_book(count, year)
            data = build_report(date(year, 1, 1), date(year, 12, 31))
            db.session.remove()
            db.engine.dispose()
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gifts", type=int, default=100, help="gifts in the report (100)")
    parser.add_argument("--compare", action="store_true", help="also without /ActualText")
    parser.add_argument("--chromium", action="store_true", help="also Chromium's PDF")
    args = parser.parse_args()
    modes = [("ours (ActualText)", actualtext.install)]
    if args.compare:
        modes.insert(0, ("WeasyPrint alone", actualtext.uninstall))
    docs = documents(args.gifts)
    print(f"{'document':32} {'engine':17} {'words':>6} {'pdftotext -raw':>15} {'pypdf':>11}")
    for name, html, to_pdf, stylesheet in docs:
        words = khmer_words(html)
        results = []
        for mode, switch in modes:
            switch()
            results.append((mode, to_pdf(html)))
        if args.chromium:
            from peers import Chromium

            from ceroc_donations.rendering.letter import LETTERS_DIR

            browser = Chromium(LETTERS_DIR, stylesheet)
            try:
                results.append(("Chromium", browser.pdf(html)))
            finally:
                browser.close()
        for mode, pdf in results:
            poppler, pypdf_found = found(words, pdftotext(pdf)), found(words, pypdf_text(pdf))
            print(
                f"{name:32} {mode:17} {len(words):6d} {poppler:8d} ({poppler / len(words):4.0%})"
                f" {pypdf_found:4d} ({pypdf_found / len(words):4.0%})"
            )
    actualtext.install()


if __name__ == "__main__":
    main()
