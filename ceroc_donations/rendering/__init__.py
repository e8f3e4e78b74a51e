"""Pure rendering of CEROC letters: plain data → HTML → PDF/A bytes.

No database and no Flask here: the services read the database into a
:class:`LetterData` and call :func:`render_html` and :meth:`LetterRenderer.to_pdf`.
"""

from __future__ import annotations

from .khmer import format_date_en, format_date_km, insert_word_breaks, to_khmer_digits
from .letter import (
    LETTERS_DIR,
    Donor,
    GiftLine,
    LetterData,
    LetterTemplates,
    LetterTexts,
    placeholder_values,
    render_html,
)
from .pdf import (
    FONT_FILES,
    FetchRefused,
    LetterJob,
    LetterRenderer,
    StaticFileFetcher,
    combine_pdfs,
    letter_metadata,
    render_batch,
)
from .placeholders import PLACEHOLDERS, PlaceholderError, fill, validate

__all__ = [
    "FONT_FILES", "LETTERS_DIR", "PLACEHOLDERS", "Donor", "FetchRefused", "GiftLine",
    "LetterData", "LetterJob", "LetterRenderer", "LetterTemplates", "LetterTexts",
    "PlaceholderError", "StaticFileFetcher", "combine_pdfs", "fill", "format_date_en",
    "format_date_km", "insert_word_breaks", "letter_metadata", "placeholder_values",
    "render_batch", "render_html", "to_khmer_digits", "validate",
]  # fmt: skip
