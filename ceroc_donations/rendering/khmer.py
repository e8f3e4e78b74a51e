"""Khmer text helpers: digits, dates and word breaks for line wrapping.

Khmer is written without spaces between words, and Pango cannot find word boundaries
in it by itself; a letter would then only wrap at the few real spaces. We ask ICU's
dictionary-based word iterator for the boundaries and mark them with ZERO WIDTH SPACE,
which every renderer treats as a line-break opportunity that prints nothing.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from html.parser import HTMLParser

from babel.dates import get_month_names

from ceroc_donations.money import to_khmer_digits

__all__ = [
    "ZWSP",
    "format_date_en",
    "format_date_km",
    "insert_word_breaks",
    "khmer_words",
    "to_khmer_digits",
]

ZWSP = "\u200b"

#: Buddhist Era year = Common Era year + 544 (the Cambodian convention).
BUDDHIST_ERA_OFFSET = 544

#: A run of Khmer script (main block and Khmer Symbols), with the joiners and any
#: break marks already inside it. Only these runs are given word breaks.
_KHMER_RUN = re.compile("[\u1780-\u17ff\u19e0-\u19ff\u200b\u200c\u200d]+")

#: Signs that end or repeat a word and must never start a line: ។ ៕ ៖ ៗ ៘ ៚,
#: plus the combining marks, coeng and joiners (a break there would split a cluster).
_NO_BREAK_BEFORE = frozenset(
    "\u17d4\u17d5\u17d6\u17d7\u17d8\u17da\u200c\u200d"
    + "".join(chr(c) for c in range(0x17B4, 0x17D4))  # vowels, signs, coeng (U+17D2)
    + "\u17dd"
)
#: A break right after coeng or a joiner would also split a cluster.
_NO_BREAK_AFTER = frozenset("\u17d2\u200c\u200d\u17d9")

_local = threading.local()


def _word_iterator():  # -> icu.BreakIterator; ICU (~11 MB) loads on first use
    """One ICU word iterator per thread: creating one loads the Khmer dictionary."""
    iterator = getattr(_local, "iterator", None)
    if iterator is None:
        import icu

        iterator = _local.iterator = icu.BreakIterator.createWordInstance(icu.Locale("km"))
    return iterator


def _break_run(run: str) -> str:
    text = run.replace(ZWSP, "")
    if len(text) < 2:
        return text
    iterator = _word_iterator()
    iterator.setText(text)
    # ICU counts UTF-16 code units; Khmer is all in the BMP, so they equal str indexes.
    cuts = [
        at for at in iterator
        if 0 < at < len(text)
        and text[at] not in _NO_BREAK_BEFORE
        and text[at - 1] not in _NO_BREAK_AFTER
    ]  # fmt: skip
    if not cuts:
        return text
    parts = []
    previous = 0
    for at in cuts:
        parts.append(text[previous:at])
        previous = at
    parts.append(text[previous:])
    return ZWSP.join(parts)


def insert_word_breaks(text: str) -> str:
    """Mark the word boundaries inside Khmer runs of *text* with U+200B.

    Non-Khmer text is left untouched; existing U+200B inside Khmer runs are replaced by
    ICU's boundaries, so calling this twice gives the same result as calling it once.
    """
    if not text:
        return text
    return _KHMER_RUN.sub(lambda match: _break_run(match.group()), text)


def format_date_km(day: date, buddhist_era: bool = False) -> str:
    """Date the Khmer way, e.g. ``ថ្ងៃទី២៧ ខែវិច្ឆិកា ឆ្នាំ២០២៦`` (Buddhist Era: ``… ព.ស.២៥៧០``)."""
    month = get_month_names("wide", locale="km")[day.month]
    if buddhist_era:
        # The Cambodian Buddhist year turns on Visak Bochea (a lunar date in April or
        # May); we use the common CE + 544 all year, as most printed letters do.
        year = f"ព.ស.{day.year + BUDDHIST_ERA_OFFSET}"
    else:
        year = f"ឆ្នាំ{day.year}"
    return to_khmer_digits(f"ថ្ងៃទី{day.day} ខែ{month} {year}")


def format_date_en(day: date) -> str:
    """Date in English as on CEROC's letters, e.g. ``27 November 2026``."""
    # Babel rather than strftime("%B"), which follows the process locale.
    return f"{day.day} {get_month_names('wide', locale='en')[day.month]} {day.year}"


class _TextOf(HTMLParser):
    """The text a reader sees in an HTML document (no head, style or script)."""

    _HIDDEN = frozenset({"head", "title", "style", "script"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs) -> None:
        self._hidden += tag in self._HIDDEN

    def handle_endtag(self, tag) -> None:
        self._hidden -= tag in self._HIDDEN

    def handle_data(self, data) -> None:
        if not self._hidden:
            self.parts.append(data)


def khmer_words(html: str) -> list[str]:
    """The Khmer words of a rendered letter or report, in order, as its reader sees them.

    Words are ICU's: :func:`insert_word_breaks` has already put U+200B between them in
    the HTML (text without breaks is segmented here the same way).
    """
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    words = []
    for run in _KHMER_RUN.findall(" ".join(parser.parts)):
        words += [word for word in insert_word_breaks(run).split(ZWSP) if word]
    return words
