"""The report PDF's charts as HTML and CSS boxes, so their Khmer labels are real text.

WeasyPrint does not shape Khmer inside SVG ``<text>`` (WeasyPrint#2249), so the report
draws its charts as boxes: bars are absolutely positioned ``<div>``\\ s sized in percent of
a plot area of fixed size (``report.css``), and every label (legend, axis names, ticks,
periods, categories, amounts) is HTML text, which Pango shapes and our ``/ActualText``
spans make searchable. Only the balance line and its dots are a small SVG with no text,
laid over the same plot area (same size, so nothing is stretched).

Scale, ticks, periods and their labels come from :mod:`.charts`, as on the web charts:
months up to 24, then quarters up to 32, then years (:func:`.charts.flow_periods`).
This module only computes positions: the markup is in ``letters/report.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babel.dates import format_date

from ceroc_donations.money import exponent
from ceroc_donations.rendering import charts

#: The flow chart's plot area in millimetres (``report.css`` gives ``.plot`` this size).
PLOT_WIDTH_MM = 130.0
PLOT_HEIGHT_MM = 55.0
#: Period labels' font size in millimetres (7 pt), to thin them so they never overlap.
LABEL_MM = 7 * 25.4 / 72
#: The spending chart's width (``.side-by-side > figure``: 48 % of the 180 mm text width).
BAR_CHART_MM = 86.0
#: SVG user units per millimetre in the balance overlay.
_UNITS = 10


@dataclass(frozen=True)
class Bar:
    """One bar of the flow chart, in percent of the plot area."""

    kind: str  # "in" or "out"
    left: float
    width: float
    bottom: float
    height: float


@dataclass(frozen=True)
class Tick:
    """A value line across the plot and its label, *bottom* percent up the plot."""

    bottom: float
    label: str
    zero: bool


@dataclass(frozen=True)
class PeriodLabel:
    """A period's name under its bars (and the year under the first of each year)."""

    left: float  # percent of the plot's width; the label is centred in its *width*
    width: float
    name: str
    year: str | None


@dataclass(frozen=True)
class FlowChart:
    """Everything ``report.html`` needs to draw the money in and out chart."""

    scale: str  # "month", "quarter" or "year" (charts.SCALES)
    ticks: tuple[Tick, ...]
    bars: tuple[Bar, ...]
    labels: tuple[PeriodLabel, ...]
    #: The balance line as SVG ``points`` and its dots, in the overlay's user units.
    line: str
    dots: tuple[tuple[float, float], ...]
    view_box: str


@dataclass(frozen=True)
class HBar:
    """One row of the spending chart: its label, its bar's width (percent), its amount."""

    label: str
    width: float
    amount: str


def _pct(value: float) -> float:
    return round(value, 3)


def flow_chart(
    points: Sequence[charts.MonthlyFlow],
    *,
    currency: str,
    locale: str,
    dates: Callable[[str], str] = str,
) -> FlowChart | None:
    """The flow chart's boxes for *points* (``None`` when there is nothing to draw).

    Amounts on the axis are as the web chart prints them (Latin digits); *dates* turns
    period names and years into the report's digits (Khmer digits in the Khmer report).
    """
    periods = charts.flow_periods(points)
    if not periods:
        return None
    scale = periods[0].scale
    values = [0]
    for p in periods:
        values += [p.in_minor, p.out_minor, p.balance_minor]
    lo, hi = min(values), max(values)
    if lo == hi:  # everything is zero: an axis of one major unit
        hi = 10 ** exponent(currency)
    tick_values = charts.nice_ticks(lo, hi)
    first, last = tick_values[0], tick_values[-1]

    def up(value: int) -> float:
        return (value - first) * 100 / (last - first)

    ticks = tuple(
        Tick(_pct(up(t)), charts.axis_label(t, currency, locale), t == 0) for t in tick_values
    )
    slot = 100 / len(periods)
    bar = min(slot * 0.36, 5.5)  # as the web chart: at most 22 of its 400 units
    zero = up(0)
    bars, centres = [], []
    for i, p in enumerate(periods):
        centre = slot * (i + 0.5)
        centres.append(centre)
        for kind, value, left in (("in", p.in_minor, centre - bar - 0.1),
                                  ("out", p.out_minor, centre + 0.1)):  # fmt: skip
            if value:
                bars.append(Bar(kind, _pct(left), _pct(bar), _pct(zero), _pct(up(value) - zero)))

    pattern = {"month": "LLL", "quarter": "QQQ", "year": "y"}[scale]
    names = [dates(format_date(p.start, pattern, locale=locale)) for p in periods]
    slot_mm = PLOT_WIDTH_MM * slot / 100
    widest = max(charts.text_width(name, LABEL_MM) for name in names) + 1.5
    every = max(1, -int(-widest // slot_mm))
    labels, last_year = [], None
    for i, (p, centre, name) in enumerate(zip(periods, centres, names, strict=True)):
        if i % every:
            continue
        year = None
        if scale != "year" and p.start.year != last_year:
            year = dates(format_date(p.start, "y", locale=locale))
            last_year = p.start.year
        labels.append(PeriodLabel(_pct(centre - slot * every / 2), _pct(slot * every), name, year))

    width, height = PLOT_WIDTH_MM * _UNITS, PLOT_HEIGHT_MM * _UNITS

    def xy(centre: float, value: int) -> tuple[float, float]:
        return (round(centre * width / 100, 1), round(height - up(value) * height / 100, 1))

    dots = tuple(xy(c, p.balance_minor) for c, p in zip(centres, periods, strict=True))
    line = " ".join(f"{x:g},{y:g}" for x, y in dots) if len(dots) > 1 else ""
    return FlowChart(scale, ticks, tuple(bars), tuple(labels), line, dots,
                     f"0 0 {width:g} {height:g}")  # fmt: skip


def bar_rows(rows: Sequence[tuple[str, int]], *, currency: str, locale: str) -> list[HBar]:
    """The spending chart's rows: each bar's width leaves room for its amount after it."""
    amounts = [charts.amount_label(value, currency, locale) for _label, value in rows]
    if not rows:
        return []
    reserve = max(charts.text_width(a, LABEL_MM) for a in amounts) + 5
    full = 100 * (1 - reserve / BAR_CHART_MM)
    biggest = max(value for _label, value in rows) or 1
    return [
        HBar(label, _pct(value * full / biggest), amount)
        for (label, value), amount in zip(rows, amounts, strict=True)
    ]
