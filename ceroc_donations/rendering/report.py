"""The transparency report: plain :class:`ReportData` → HTML → PDF/A bytes, no database.

The service :mod:`ceroc_donations.ledger.report` reads the database once into a
:class:`ReportData`; :func:`render_report_pdf` lays it out in English or Khmer with the
letters' fonts, Khmer word breaks and allow-listed fetcher (:class:`.pdf.LetterRenderer`
with ``report.css``).

Charts are HTML and CSS boxes (:mod:`.report_charts`): WeasyPrint does not shape Khmer
inside SVG ``<text>`` (WeasyPrint#2249), so every chart label is HTML text, in the
report's language, with the web charts' scale and labels (:mod:`.charts`).
"""

from __future__ import annotations

import atexit
import json
import threading
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from markupsafe import escape

from ceroc_donations.money import Money, format_money, to_khmer_digits
from ceroc_donations.rendering import charts, report_charts
from ceroc_donations.rendering.khmer import format_date_en, format_date_km
from ceroc_donations.rendering.letter import LETTERS_DIR, _khmer_markup, design_environment

if TYPE_CHECKING:
    from ceroc_donations.rendering.pdf import LetterRenderer

ReportLanguage = Literal["en", "km"]
LANGUAGES: tuple[str, ...] = ("en", "km")


@dataclass(frozen=True)
class FundRow:
    """One fund over the period, in the base currency (minor units)."""

    name_en: str
    name_km: str | None
    opening_minor: int
    in_minor: int
    out_minor: int

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + self.in_minor - self.out_minor


@dataclass(frozen=True)
class CategoryRow:
    """Spending in one expense category over the period (base currency, minor units)."""

    code: str
    out_minor: int
    count: int


@dataclass(frozen=True)
class ContributionRow:
    """One gift as the public may see it: the display name is already resolved.

    Never holds an email, an address or a hidden name: only what is printed.
    """

    received_on: date
    reference: str
    name_en: str
    name_km: str
    fund_en: str
    fund_km: str | None
    amount: Money
    base_minor: int


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from the database once."""

    period_from: date
    period_to: date
    base_currency: str
    opening_minor: int
    in_minor: int
    out_minor: int
    funds: tuple[FundRow, ...] = ()
    categories: tuple[CategoryRow, ...] = ()
    monthly: tuple[charts.MonthlyFlow, ...] = ()
    contributions: tuple[ContributionRow, ...] = ()
    generated_on: date | None = None
    #: The audit chain's head when the report was made (``SEQ:HASH``): a copy kept elsewhere
    #: proves later that nothing was cut off the end of the books' history.
    audit_head: str | None = None

    def __post_init__(self) -> None:
        if self.period_from > self.period_to:
            raise ValueError("the period must not end before it starts")
        for name in ("funds", "categories", "monthly", "contributions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def closing_minor(self) -> int:
        return self.opening_minor + self.in_minor - self.out_minor

    @property
    def is_empty(self) -> bool:
        """True when nothing came in and nothing went out during the period."""
        return not self.contributions and not self.in_minor and not self.out_minor


@dataclass(frozen=True)
class ReportTexts:
    """The report's wording in one language (``letters/texts/report.json``)."""

    lang: str
    labels: dict[str, str]
    categories: dict[str, str]

    def label(self, key: str) -> str:
        return self.labels[key]

    def category(self, code: str) -> str:
        return self.categories.get(code, code)


@lru_cache(maxsize=4)
def _load_texts(path: str) -> dict[str, ReportTexts]:
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    english = raw["en"]
    texts = {}
    for lang in LANGUAGES:
        # A label missing in Khmer falls back to English rather than failing the report.
        labels = {**english["labels"], **raw[lang]["labels"]}
        categories = {**english["categories"], **raw[lang]["categories"]}
        texts[lang] = ReportTexts(lang, labels, categories)
    return texts


def report_texts(lang: str, letters_dir: Path | str | None = None) -> ReportTexts:
    """The report's wording in *lang* (``en`` or ``km``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be en or km, not {lang!r}")
    return _load_texts(str(Path(letters_dir or LETTERS_DIR) / "texts" / "report.json"))[lang]


def _money(minor: int, currency: str, lang: str) -> str:
    # Latin digits in tables in both languages: they line up and match the bank's.
    return format_money(Money(minor, currency), "en" if lang == "en" else "km", latin_digits=True)


def report_context(data: ReportData, lang: str, letters_dir: Path | str | None = None) -> dict:
    """The template's variables for *data* in *lang*: formatted strings and chart boxes."""
    texts = report_texts(lang, letters_dir)
    cur = data.base_currency
    label = texts.label

    def money(minor: int) -> str:
        return _money(minor, cur, lang)

    def day(value: date) -> str:
        return format_date_en(value) if lang == "en" else format_date_km(value)

    # One rule for digits in the Khmer report: Khmer digits in running text and in every
    # date (tables and charts too: a date is read, not added up); Latin digits in every
    # amount and count of a table or chart axis, so the treasurer checks each figure
    # against the bank statement and the English report, and columns line up.
    dates = to_khmer_digits if lang == "km" else str
    spending = [(texts.category(row.code), row.out_minor) for row in data.categories
                if row.out_minor]  # fmt: skip
    periods = charts.flow_periods(data.monthly)
    scale = periods[0].scale if periods else "month"
    flow_rows = [
        (dates(charts.period_label(p, lang)), money(p.in_minor), money(p.out_minor),
         money(p.balance_minor))
        for p in periods
    ]  # fmt: skip
    period = label("period_value").format(start=day(data.period_from), end=day(data.period_to))
    generated = day(data.generated_on) if data.generated_on else ""
    count = len(data.contributions)
    return {
        "lang": lang,
        "t": texts.labels,
        "org_km": report_texts("km", letters_dir).labels["org_name"],
        "data": data,
        "period": period,
        "generated": generated,
        "title": label("title"),
        "totals": [
            (label("opening"), money(data.opening_minor)),
            (label("money_in"), money(data.in_minor)),
            (label("money_out"), money(data.out_minor)),
            (label("closing"), money(data.closing_minor)),
        ],
        "funds": [
            (
                row.name_en if lang == "en" else (row.name_km or row.name_en),
                money(row.opening_minor),
                money(row.in_minor),
                money(row.out_minor),
                money(row.closing_minor),
            )
            for row in data.funds
        ],
        "fund_total": (
            money(sum(r.opening_minor for r in data.funds)),
            money(sum(r.in_minor for r in data.funds)),
            money(sum(r.out_minor for r in data.funds)),
            money(sum(r.closing_minor for r in data.funds)),
        ),
        "categories": [
            (texts.category(r.code), str(r.count), money(r.out_minor)) for r in data.categories
        ],
        "flow_rows": flow_rows,
        "flow_heading": label(f"flow_{scale}"),
        "period_header": label(scale),
        "amount_axis": label("amount_axis").format(currency=cur),
        "flow_chart": report_charts.flow_chart(
            data.monthly, currency=cur, locale=lang, dates=dates
        ),
        "bar_chart": report_charts.bar_rows(spending, currency=cur, locale=lang),
        "contributions": [
            (
                day(c.received_on) if lang == "en" else _short_date_km(c.received_on),
                c.reference,
                c.name_en if lang == "en" else c.name_km,
                c.fund_en if lang == "en" else (c.fund_km or c.fund_en),
                _money(c.amount.minor, c.amount.currency, lang),
                money(c.base_minor) if c.amount.currency != cur else "",
            )
            for c in data.contributions
        ],
        "contribution_count": str(count) if lang == "en" else to_khmer_digits(str(count)),
        # Prose: Khmer digits in Khmer, as in the letters.
        "contribution_total": format_money(
            Money(sum(c.base_minor for c in data.contributions), cur), lang
        ),
        "show_base_column": any(c.amount.currency != cur for c in data.contributions),
    }


def _short_date_km(day: date) -> str:
    # ``27 វិច្ឆិកា ២០២៦``: shorter than the letters' ``ថ្ងៃទី២៧ ខែវិច្ឆិកា ឆ្នាំ២០២៦`` for a column.
    from babel.dates import format_date

    return to_khmer_digits(format_date(day, "d MMMM y", locale="km"))


class ReportTemplates:
    """The Jinja environment for ``report.html`` in one ``letters/`` folder."""

    def __init__(self, letters_dir: Path | str | None = None):
        self.letters_dir = Path(letters_dir or LETTERS_DIR)
        self.env = design_environment(self.letters_dir)
        # ``text | t(lang)``: Khmer word breaks only where the page is Khmer.
        self.env.filters["t"] = lambda value, lang: (
            _khmer_markup(value) if lang == "km" else escape(value)
        )

    def render(self, data: ReportData, lang: str) -> str:
        context = report_context(data, lang, self.letters_dir)
        return self.env.get_template("report.html").render(**context)


@lru_cache(maxsize=4)
def _templates(letters_dir: str) -> ReportTemplates:
    return ReportTemplates(letters_dir)


def render_report_html(
    data: ReportData, lang: str = "en", *, letters_dir: Path | str | None = None
) -> str:
    """The report as a complete HTML document in *lang* (``en`` or ``km``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be en or km, not {lang!r}")
    return _templates(str(Path(letters_dir or LETTERS_DIR).resolve())).render(data, lang)


def report_metadata(data: ReportData, lang: str) -> dict[str, str]:
    """PDF metadata: title, author, subject, lang."""
    period = f"{data.period_from.isoformat()} – {data.period_to.isoformat()}"
    return {
        "title": f"CEROC transparency report {period}",
        "author": "Commission for Election Rights of Overseas Cambodians (CEROC)",
        "subject": f"Money in and out, {period}",
        "lang": lang,
    }


_local = threading.local()
# Drop the cached renderer before interpreter teardown: WeasyPrint's FontConfiguration
# cleans its temporary folder in __del__, which fails once modules are being torn down.
atexit.register(lambda: _local.__dict__.clear())


def report_renderer() -> LetterRenderer:
    """This thread's renderer for reports (fonts and CSS parsed once per thread)."""
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        from ceroc_donations.rendering.pdf import LetterRenderer

        renderer = _local.renderer = LetterRenderer(
            stylesheet="report.css", freeze_after_first=True
        )
    return renderer


def render_report_pdf(
    data: ReportData, lang: str = "en", *, renderer: LetterRenderer | None = None
) -> bytes:
    """The transparency report for *data* as PDF/A bytes in *lang* (``en`` or ``km``)."""
    renderer = renderer or report_renderer()
    html = render_report_html(data, lang, letters_dir=renderer.letters_dir)
    return renderer.to_pdf(html, **report_metadata(data, lang))
