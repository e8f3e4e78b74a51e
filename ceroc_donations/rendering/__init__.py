"""Pure rendering of CEROC letters: plain data → HTML → PDF/A bytes.

No database and no Flask here: the services read the database into a
:class:`LetterData` and call :func:`render_html` and :meth:`LetterRenderer.to_pdf`.
"""

from __future__ import annotations

from ceroc_donations.rendering.fonts import FONT_FILES
from ceroc_donations.rendering.khmer import (
    format_date_en,
    format_date_km,
    insert_word_breaks,
    to_khmer_digits,
)
from ceroc_donations.rendering.letter import (
    LETTERS_DIR,
    Donor,
    GiftLine,
    LetterData,
    LetterTemplates,
    LetterTexts,
    Verification,
    letter_metadata,
    placeholder_values,
    render_html,
)
from ceroc_donations.rendering.placeholders import (
    PLACEHOLDERS,
    PlaceholderError,
    fill,
    validate,
)

__all__ = [
    "FONT_FILES", "LETTERS_DIR", "PLACEHOLDERS", "Donor", "FetchRefused", "GiftLine",
    "LetterData", "LetterJob", "LetterRenderer", "LetterTemplates", "LetterTexts",
    "PlaceholderError", "StaticFileFetcher", "Verification", "combine_pdfs", "fill",
    "format_date_en", "format_date_km", "insert_word_breaks", "letter_metadata",
    "placeholder_values", "render_batch", "render_html", "to_khmer_digits", "validate",
]  # fmt: skip

#: Names served by :mod:`.pdf`, imported on first use: WeasyPrint adds ~24 MB to every
#: process, and most requests (ledger, book) never render a PDF.
_PDF_NAMES = frozenset(
    {
        "FetchRefused",
        "LetterJob",
        "LetterRenderer",
        "StaticFileFetcher",
        "combine_pdfs",
        "render_batch",
    }
)


def __getattr__(name: str):
    if name in _PDF_NAMES:
        from ceroc_donations.rendering import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
