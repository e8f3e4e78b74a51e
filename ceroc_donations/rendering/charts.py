"""Server-side SVG charts for the ledger: no JavaScript, printable, readable in Khmer.

Every chart is a self-contained ``<svg>`` (inline in a page or in a WeasyPrint PDF) that
scales with its container through ``viewBox``. Each has a twin :class:`ChartTable` built
from the same normalised rows with the same formatter, so the numbers never differ.

Strings a person reads are marked with ``N_`` (a Babel default keyword) and translated at
render time through the *gettext* argument, e.g. ``gettext=flask_babel.gettext``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from babel.dates import format_date, format_skeleton
from babel.numbers import format_compact_currency
from markupsafe import Markup, escape

from ceroc_donations.money import Money, exponent, format_money

Gettext = Callable[[str], str]


def N_(message: str) -> str:  # the name pybabel extracts by default
    """Mark *message* for translation; it is translated later through *gettext*."""
    return message


MSG_NO_DATA = N_("No data yet")
MSG_MONEY_IN = N_("Money in")
MSG_MONEY_OUT = N_("Money out")
MSG_BALANCE = N_("Balance")
MSG_MONTH = N_("Month")
MSG_QUARTER = N_("Quarter")
MSG_YEAR = N_("Year")
MSG_AMOUNT = N_("Amount")
MSG_AMOUNT_AXIS = N_("Amount (%(currency)s)")
MSG_FLOW_DESC = N_(
    "From %(first)s to %(last)s: money in %(money_in)s, money out %(money_out)s, "
    "balance at the end %(balance)s."
)
MSG_MONTH_TIP = N_("%(month)s: money in %(money_in)s, money out %(money_out)s, balance %(balance)s")
MSG_BAR_DESC = N_("Largest: %(label)s, %(amount)s.")

#: Written without quotes or spaces after commas: WeasyPrint's SVG text code splits the
#: attribute on "," and strips quotes but not spaces, so ``, "Noto Sans"`` would not match.
FONT_FAMILY = "Noto Sans Khmer,Noto Sans,sans-serif"
WIDTH = 400  # viewBox units; at 360 px wide a 13-unit font is still about 12 px
PAD = 8
FONT = 13
SMALL = 12
COLOUR_IN = "#1b5e7a"  # dark and solid: reads as dark grey in print
COLOUR_OUT = "#f2b45a"  # light, with dark hatching: reads as striped light grey
COLOUR_OUT_LINE = "#7a4300"
COLOUR_BALANCE = "#1a1a1a"
COLOUR_BAR = "#1b5e7a"
COLOUR_GRID = "#d0d0d0"
COLOUR_AXIS = "#555555"
COLOUR_TEXT = "#1a1a1a"

# Characters XML 1.0 forbids; escaping does not help with these, so they are dropped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_KHMER = re.compile("[\u1780-\u17ff\u19e0-\u19ff]")


@dataclass(frozen=True)
class MonthlyFlow:
    """Money in and out during one month, and the balance at its end, in minor units."""

    month: date  # first day of the month
    in_minor: int
    out_minor: int
    balance_minor: int

    def __post_init__(self) -> None:
        if type(self.month) is not date or self.month.day != 1:
            raise ValueError("MonthlyFlow.month must be a date on the first of the month")
        for name in ("in_minor", "out_minor", "balance_minor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"MonthlyFlow.{name} must be an int (minor units)")
        if self.in_minor < 0 or self.out_minor < 0:
            raise ValueError("money in and money out are never negative")


#: The monthly chart's scale: months up to two years, quarters up to eight, then years.
MAX_MONTHS = 24
MAX_QUARTERS = 32
SCALES = ("month", "quarter", "year")
_SCALE_HEADER = {"month": MSG_MONTH, "quarter": MSG_QUARTER, "year": MSG_YEAR}


@dataclass(frozen=True)
class FlowPeriod:
    """Money in and out during a month, quarter or year, and the balance at its end."""

    start: date  # first day of the period
    scale: str  # one of SCALES
    in_minor: int
    out_minor: int
    balance_minor: int


@dataclass(frozen=True)
class ChartTable:
    """The numbers of a chart as a table; ``{{ table }}`` in Jinja renders ``<table>``."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # formatted cells; the first cell names the row

    def __html__(self) -> str:
        head = "".join(f'<th scope="col"{_lang(h)}>{escape(h)}</th>' for h in self.header)
        body = []
        for row in self.rows:
            first, *rest = row
            cells = "".join(f'<td class="num">{escape(c)}</td>' for c in rest)
            body.append(f'<tr><th scope="row"{_lang(first)}>{escape(first)}</th>{cells}</tr>')
        # tabindex: on a phone the table may scroll sideways, and a keyboard must reach it.
        return (
            f'<table class="chart-table" tabindex="0"><caption{_lang(self.caption)}>'
            f"{escape(self.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )


# --- public API ---------------------------------------------------------------------


def nice_ticks(lo: int, hi: int, *, target: int = 5) -> list[int]:
    """Evenly spaced ticks covering ``lo..hi`` with a step of 1, 2 or 5 × 10ⁿ (integers)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1
    span = hi - lo
    n = max(len(str(span // target)) - 1, 0)
    while True:
        for m in (1, 2, 5):
            step = m * 10**n
            if step * target >= span:
                first = (lo // step) * step
                last = -((-hi) // step) * step
                return list(range(first, last + step, step))
        n += 1


def monthly_flow_chart(
    points: Iterable[MonthlyFlow],
    *,
    currency: str,
    locale: str,
    title: str,
    gettext: Gettext | None = None,
    empty_text: str | None = None,
    id_prefix: str | None = None,
) -> Markup:
    """Paired bars of money in and out per month, and the running balance as a line.

    Months missing between the first and the last are drawn as months with no movement.
    """
    _ = gettext or str
    months = flow_periods(points)
    pid = id_prefix or _chart_id("flow", title, currency, locale, months)
    if not months:
        return _empty_svg(pid, title, empty_text or _(MSG_NO_DATA))
    scale = months[0].scale

    values = [0]
    for p in months:
        values += [p.in_minor, p.out_minor, p.balance_minor]
    lo, hi = min(values), max(values)
    if lo == hi:  # everything is zero: show an axis of one major unit
        hi = 10 ** exponent(currency)
    ticks = nice_ticks(lo, hi)
    tick_labels = [_axis_label(t, currency, locale) for t in ticks]

    out: list[str] = []
    y = _title_lines(out, title)
    # Legend, wrapped onto a second row if the translated words are long.
    legend = [(_(MSG_MONEY_IN), "in"), (_(MSG_MONEY_OUT), "out"), (_(MSG_BALANCE), "line")]
    x = PAD
    for label, kind in legend:
        w = 16 + _text_width(label, SMALL) + 14
        if x > PAD and x + w > WIDTH - PAD:
            x, y = PAD, y + 20
        if kind == "in":
            out.append(_rect(x, y + 2, 12, 12, f'fill="{COLOUR_IN}"'))
        elif kind == "out":
            out.append(
                _rect(
                    x,
                    y + 2,
                    12,
                    12,
                    f'fill="url(#{pid}-hatch)" stroke="{COLOUR_OUT_LINE}" stroke-width="0.75"',
                )
            )
        else:
            out.append(
                f'<line x1="{_n(x)}" y1="{_n(y + 8)}" x2="{_n(x + 12)}" y2="{_n(y + 8)}" '
                f'stroke="{COLOUR_BALANCE}" stroke-width="2"/>'
                f'<circle cx="{_n(x + 6)}" cy="{_n(y + 8)}" r="3" fill="#ffffff" '
                f'stroke="{COLOUR_BALANCE}" stroke-width="1.5"/>'
            )
        out.append(_text(x + 16, y + 12, label, size=SMALL))
        x += w

    # The value axis says what it counts, above the tick labels.
    out.append(_text(PAD, y + 20 + 14, _(MSG_AMOUNT_AXIS) % {"currency": currency}, size=SMALL))
    top = y + 20 + 14 + 14
    left = PAD + max(_text_width(t, SMALL) for t in tick_labels) + 6
    right = WIDTH - PAD
    bottom = top + 200

    def ypos(v: int) -> float:
        return bottom - (v - ticks[0]) * (bottom - top) / (ticks[-1] - ticks[0])

    for t, label in zip(ticks, tick_labels, strict=True):
        colour, width = (COLOUR_AXIS, 1) if t == 0 else (COLOUR_GRID, 0.5)
        out.append(
            f'<line x1="{_n(left)}" y1="{_n(ypos(t))}" x2="{_n(right)}" y2="{_n(ypos(t))}" '
            f'stroke="{colour}" stroke-width="{width}"/>'
        )
        out.append(_text(left - 4, ypos(t) + 4, label, size=SMALL, anchor="end"))

    slot = (right - left) / len(months)
    bar = min(slot * 0.36, 22)
    centres = [left + slot * (i + 0.5) for i in range(len(months))]
    zero = ypos(0)
    for p, cx in zip(months, centres, strict=True):
        tip = _(MSG_MONTH_TIP) % {
            "month": _period_label(p, locale),
            "money_in": _amount(p.in_minor, currency, locale),
            "money_out": _amount(p.out_minor, currency, locale),
            "balance": _amount(p.balance_minor, currency, locale),
        }
        out.append(f"<g><title{_lang(tip)}>{_esc(tip)}</title>")
        if p.in_minor:
            top_in = ypos(p.in_minor)
            out.append(_rect(cx - bar - 0.5, top_in, bar, zero - top_in, f'fill="{COLOUR_IN}"'))
        if p.out_minor:
            top_out = ypos(p.out_minor)
            out.append(
                _rect(
                    cx + 0.5,
                    top_out,
                    bar,
                    zero - top_out,
                    f'fill="url(#{pid}-hatch)" stroke="{COLOUR_OUT_LINE}" stroke-width="0.75"',
                )
            )
        out.append("</g>")

    line = " ".join(
        f"{_n(cx)},{_n(ypos(p.balance_minor))}" for p, cx in zip(months, centres, strict=True)
    )
    if len(months) > 1:
        out.append(
            f'<polyline points="{line}" fill="none" stroke="{COLOUR_BALANCE}" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
    for p, cx in zip(months, centres, strict=True):
        out.append(
            f'<circle cx="{_n(cx)}" cy="{_n(ypos(p.balance_minor))}" r="3" fill="#ffffff" '
            f'stroke="{COLOUR_BALANCE}" stroke-width="1.5"/>'
        )

    # Period labels, thinned so they never overlap; under months and quarters the year
    # stands below the first one and each January (or first quarter).
    pattern = {"month": "LLL", "quarter": "QQQ", "year": "y"}[scale]
    names = [format_date(p.start, pattern, locale=locale) for p in months]
    every = max(1, int(-(-(max(_text_width(n, SMALL) for n in names) + 6) // slot)))
    last_year = None
    for i, (p, cx, name) in enumerate(zip(months, centres, names, strict=True)):
        if i % every:
            continue
        out.append(_text(cx, bottom + 16, name, size=SMALL, anchor="middle"))
        if scale != "year" and p.start.year != last_year:
            year = format_date(p.start, "y", locale=locale)
            out.append(_text(cx, bottom + 31, year, size=SMALL, anchor="middle"))
            last_year = p.start.year
    axis_y = bottom + (31 if scale == "year" else 47)
    out.append(
        _text((left + right) / 2, axis_y, _(_SCALE_HEADER[scale]), size=SMALL, anchor="middle")
    )
    height = axis_y + PAD

    desc = _(MSG_FLOW_DESC) % {
        "first": _period_label(months[0], locale),
        "last": _period_label(months[-1], locale),
        "money_in": _amount(sum(p.in_minor for p in months), currency, locale),
        "money_out": _amount(sum(p.out_minor for p in months), currency, locale),
        "balance": _amount(months[-1].balance_minor, currency, locale),
    }
    defs = (
        f'<defs><pattern id="{pid}-hatch" patternUnits="userSpaceOnUse" width="5" height="5" '
        f'patternTransform="rotate(45)"><rect width="5" height="5" fill="{COLOUR_OUT}"/>'
        f'<line x1="0" y1="0" x2="0" y2="5" stroke="{COLOUR_OUT_LINE}" stroke-width="2"/>'
        "</pattern></defs>"
    )
    return _svg(pid, title, desc, height, defs + "".join(out))


def flow_table(
    points: Iterable[MonthlyFlow],
    *,
    currency: str,
    locale: str,
    title: str,
    gettext: Gettext | None = None,
) -> ChartTable:
    """The numbers of :func:`monthly_flow_chart`, one row per period (the chart's scale),
    formatted identically."""
    _ = gettext or str
    periods = flow_periods(points)
    scale = periods[0].scale if periods else "month"
    return ChartTable(
        caption=title,
        header=(_(_SCALE_HEADER[scale]), _(MSG_MONEY_IN), _(MSG_MONEY_OUT), _(MSG_BALANCE)),
        rows=tuple(
            (
                _period_label(p, locale),
                _amount(p.in_minor, currency, locale),
                _amount(p.out_minor, currency, locale),
                _amount(p.balance_minor, currency, locale),
            )
            for p in periods
        ),
    )


def bar_chart(
    rows: Iterable[tuple[str, int]],
    *,
    currency: str,
    locale: str,
    title: str,
    label_header: str | None = None,
    gettext: Gettext | None = None,
    empty_text: str | None = None,
    id_prefix: str | None = None,
) -> Markup:
    """Horizontal bars, e.g. spending by category; *rows* are drawn in the order given.

    Each label sits on its own line above its bar, so long and Khmer labels are never cut.
    *label_header* names what the labels are (e.g. "Category"), over the labels' column.
    """
    _ = gettext or str
    rows = _check_rows(rows)
    pid = id_prefix or _chart_id("bar", title, currency, locale, rows)
    if not rows:
        return _empty_svg(pid, title, empty_text or _(MSG_NO_DATA))

    amounts = [_amount(v, currency, locale) for _label, v in rows]
    reserve = max(_text_width(a, SMALL) for a in amounts) + 6
    full = WIDTH - 2 * PAD - reserve
    biggest = max(v for _label, v in rows)
    out: list[str] = []
    y = _title_lines(out, title)
    # The axes: what the labels are on the left, what the bars measure on the right.
    if label_header:
        out.append(_text(PAD, y + 14, label_header, size=SMALL))
    amount_axis = _(MSG_AMOUNT_AXIS) % {"currency": currency}
    out.append(_text(WIDTH - PAD, y + 14, amount_axis, size=SMALL, anchor="end"))
    out.append(
        f'<line x1="{PAD}" y1="{_n(y + 20)}" x2="{WIDTH - PAD}" y2="{_n(y + 20)}" '
        f'stroke="{COLOUR_GRID}" stroke-width="0.5"/>'
    )
    y += 22
    for (label, value), amount in zip(rows, amounts, strict=True):
        width = value * full / biggest if biggest else 0.0
        out.append(_text(PAD, y + 14, label, size=FONT))
        out.append(
            _rect(PAD, y + 20, width, 16, f'fill="{COLOUR_BAR}" class="bar" data-value="{value}"')
        )
        out.append(_text(PAD + width + 6, y + 33, amount, size=SMALL))
        y += 44
    label, value = max(rows, key=lambda r: r[1])
    desc = _(MSG_BAR_DESC) % {"label": label, "amount": _amount(value, currency, locale)}
    return _svg(pid, title, desc, y + PAD, "".join(out))


def bar_table(
    rows: Iterable[tuple[str, int]],
    *,
    currency: str,
    locale: str,
    title: str,
    label_header: str,
    gettext: Gettext | None = None,
) -> ChartTable:
    """The numbers of :func:`bar_chart`, in the same order, formatted identically."""
    _ = gettext or str
    return ChartTable(
        caption=title,
        header=(label_header, _(MSG_AMOUNT)),
        rows=tuple((label, _amount(v, currency, locale)) for label, v in _check_rows(rows)),
    )


def flow_scale(months: list[MonthlyFlow]) -> str:
    """Months for up to :data:`MAX_MONTHS`, quarters up to :data:`MAX_QUARTERS`, else years."""
    if len(months) <= MAX_MONTHS:
        return "month"
    first, last = months[0].month, months[-1].month
    quarters = (last.year - first.year) * 4 + (last.month - 1) // 3 - (first.month - 1) // 3 + 1
    return "quarter" if quarters <= MAX_QUARTERS else "year"


def flow_periods(points: Iterable[MonthlyFlow]) -> list[FlowPeriod]:
    """The months of *points* (gaps filled) summed by the scale :func:`flow_scale` picks;
    each period's balance is the balance at the end of its last month."""
    months = normalise_flow(points)
    if not months:
        return []
    scale = flow_scale(months)
    periods: list[FlowPeriod] = []
    for p in months:
        if scale == "month":
            start = p.month
        elif scale == "quarter":
            start = date(p.month.year, (p.month.month - 1) // 3 * 3 + 1, 1)
        else:
            start = date(p.month.year, 1, 1)
        if periods and periods[-1].start == start:
            last = periods[-1]
            periods[-1] = FlowPeriod(
                start,
                scale,
                last.in_minor + p.in_minor,
                last.out_minor + p.out_minor,
                p.balance_minor,
            )
        else:
            periods.append(FlowPeriod(start, scale, p.in_minor, p.out_minor, p.balance_minor))
    return periods


def normalise_flow(points: Iterable[MonthlyFlow]) -> list[MonthlyFlow]:
    """Sort by month and fill gaps with months of no movement (balance carried over)."""
    by_month: dict[date, MonthlyFlow] = {}
    for p in points:
        if p.month in by_month:
            raise ValueError(f"two entries for {p.month:%Y-%m}")
        by_month[p.month] = p
    if not by_month:
        return []
    ordered = sorted(by_month)
    result = []
    month = ordered[0]
    previous = by_month[month]
    while month <= ordered[-1]:
        previous = by_month.get(month) or MonthlyFlow(month, 0, 0, previous.balance_minor)
        result.append(previous)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return result


def period_label(period: FlowPeriod, locale: str) -> str:
    """A period's name as the charts' tables print it: ``Jan 2025``, ``Q1 2025``, ``2025``."""
    return _period_label(period, locale)


def axis_label(minor: int, currency: str, locale: str) -> str:
    """A value axis tick as the charts print it: ``$50K``."""
    return _axis_label(minor, currency, locale)


def amount_label(minor: int, currency: str, locale: str) -> str:
    """An amount as the charts print it (Latin digits in every locale)."""
    return _amount(minor, currency, locale)


def text_width(text: str, size: float) -> float:
    """A generous estimate of *text*'s width at font size *size* (same unit)."""
    return _text_width(text, size)


# --- helpers ------------------------------------------------------------------------


def _check_rows(rows: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    checked = []
    for label, value in rows:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("bar values must be ints (minor units)")
        if value < 0:
            raise ValueError("bar values must not be negative")
        checked.append((str(label), value))
    return checked


def _amount(minor: int, currency: str, locale: str) -> str:
    return format_money(Money(minor, currency), locale, latin_digits=True)


def _axis_label(minor: int, currency: str, locale: str) -> str:
    amount = Money(minor, currency).amount
    return format_compact_currency(amount, currency, locale=locale, fraction_digits=2)


def _month_year(month: date, locale: str) -> str:
    return format_skeleton("yMMM", month, locale=locale)


def _period_label(period: FlowPeriod, locale: str) -> str:
    """``Jan 2025``, ``Q1 2025`` or ``2025`` (in Khmer ``ត្រីមាសទី 1 2025`` ...)."""
    if period.scale == "quarter":
        return format_skeleton("yQQQ", period.start, locale=locale)
    if period.scale == "year":
        return format_date(period.start, "y", locale=locale)
    return _month_year(period.start, locale)


def _title_lines(out: list[str], title: str) -> float:
    """Draw *title* at the top, wrapped at spaces to the width; return the y below it."""
    lines: list[str] = []
    for word in title.split(" "):
        if lines and _text_width(f"{lines[-1]} {word}", FONT + 1) <= WIDTH - 2 * PAD:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    y = PAD
    for line in lines:
        out.append(
            _text(PAD, y + 14, line, size=FONT + 1).replace(
                "<text ", '<text font-weight="bold" class="chart-title" ', 1
            )
        )
        y += 20
    return y + 4


def _chart_id(kind: str, *parts: object) -> str:
    # Deterministic, so the same chart renders the same bytes; distinct charts on one
    # page get distinct ids for their <title> and <pattern>.
    digest = hashlib.sha256(repr((kind, parts)).encode("utf-8", "surrogatepass")).hexdigest()
    return f"chart-{digest[:10]}"


def _esc(text: str) -> str:
    return str(escape(_XML_ILLEGAL.sub("", text)))


def _lang(text: str) -> str:
    return ' lang="km"' if _KHMER.search(text) else ""


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text_width(text: str, size: float) -> float:
    """A rough width estimate; no font metrics on the server, so err on the wide side."""
    width = 0.0
    after_coeng = False
    for ch in text:
        category = unicodedata.category(ch)
        if after_coeng or category in ("Mn", "Me", "Cf"):
            after_coeng = ch == "\u17d2"  # coeng: the next consonant stacks below
            continue
        if category == "Mc":  # spacing vowel signs such as U+17B6 take room
            width += 0.55
        elif "\u1780" <= ch <= "\u17ff":
            width += 0.7
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 1.0
        elif ch.isspace():
            width += 0.3
        else:
            width += 0.62
    return width * size


def _text(x: float, y: float, text: str, *, size: float, anchor: str = "start") -> str:
    anchor_attr = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"{anchor_attr}{_lang(text)}>'
        f"{_esc(text)}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, attrs: str) -> str:
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" {attrs}/>'


def _svg(pid: str, title: str, desc: str, height: float, body: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" width="100%" '
        f'aria-labelledby="{pid}-title {pid}-desc" font-family="{FONT_FAMILY}" '
        f'fill="{COLOUR_TEXT}">'
        f'<title id="{pid}-title"{_lang(title)}>{_esc(title)}</title>'
        f'<desc id="{pid}-desc"{_lang(desc)}>{_esc(desc)}</desc>'
        f"{body}</svg>"
    )


def _empty_svg(pid: str, title: str, message: str) -> Markup:
    out: list[str] = []
    y = _title_lines(out, title)
    body = (
        f'<rect x="0.5" y="{_n(y + 0.5)}" width="{WIDTH - 1}" height="79" rx="4" '
        f'fill="#f6f6f6" stroke="{COLOUR_GRID}"/>'
        + _text(WIDTH / 2, y + 45, message, size=FONT, anchor="middle")
    )
    return _svg(pid, title, message, y + 80, "".join(out) + body)
