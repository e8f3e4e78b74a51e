from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from ceroc_donations.money import Money, format_money
from ceroc_donations.rendering.charts import (
    FONT_FAMILY,
    ChartTable,
    MonthlyFlow,
    bar_chart,
    bar_table,
    flow_table,
    monthly_flow_chart,
    nice_ticks,
    normalise_flow,
)

SVG = "{http://www.w3.org/2000/svg}"
KHMER_LABEL = "សាលារៀន ស្រុកព្រៃវែង"  # a school in Prey Veng, with coeng subscripts
EVIL_LABEL = '<script>alert("x")</script> & Co'


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}text"))


def view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    return x, y, w, h


def months(n: int, start: date = date(2025, 1, 1)) -> list[MonthlyFlow]:
    points, balance = [], 0
    for i in range(n):
        year, month = divmod(start.month - 1 + i, 12)
        in_minor, out_minor = 10_000 * (i + 1), 7_500 * (n - i)
        balance += in_minor - out_minor
        points.append(
            MonthlyFlow(date(start.year + year, month + 1, 1), in_minor, out_minor, balance)
        )
    return points


CATEGORIES = [("Food", 123_456), (KHMER_LABEL, 98_000), (EVIL_LABEL, 4_500), ("Nothing", 0)]


def all_charts():
    yield monthly_flow_chart(months(12), currency="USD", locale="en", title="Flow")
    yield monthly_flow_chart(months(30), currency="KHR", locale="km", title="លំហូរ")
    yield monthly_flow_chart(months(1), currency="JPY", locale="fr", title="Un mois")
    yield monthly_flow_chart([], currency="USD", locale="en", title="Empty")
    yield bar_chart(CATEGORIES, currency="USD", locale="en", title="By category")
    yield bar_chart(CATEGORIES, currency="KWD", locale="km", title="By category")
    yield bar_chart([], currency="USD", locale="en", title="Empty")


@pytest.mark.parametrize("svg", list(all_charts()))
def test_svg_is_accessible_scalable_xml(svg):
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("viewBox") and root.get("width") == "100%" and not root.get("height")
    ids = root.get("aria-labelledby").split()
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    assert [by_id[i].tag for i in ids] == [f"{SVG}title", f"{SVG}desc"]
    assert root[0].tag == f"{SVG}title" and root[0].text
    assert "Noto Sans Khmer" in root.get("font-family")
    assert root.get("font-family") == FONT_FAMILY


def test_labels_are_escaped_not_markup():
    svg = bar_chart(CATEGORIES, currency="USD", locale="en", title='<b onload="x">T</b>')
    root = parse(svg)
    assert not [el for el in root.iter() if "script" in el.tag or el.tag.endswith("}b")]
    assert "<script>" not in str(svg)
    assert EVIL_LABEL in [t.text for t in texts(root)]
    assert root.find(f"{SVG}title").text == '<b onload="x">T</b>'


def test_khmer_label_intact_and_marked():
    root = parse(bar_chart(CATEGORIES, currency="USD", locale="en", title="T"))
    (khmer,) = [t for t in texts(root) if t.text == KHMER_LABEL]
    assert khmer.get("lang") == "km"
    assert all(t.get("lang") is None for t in texts(root) if t.text in ("Food", "$1,234.56"))


def test_khmer_locale_month_names_and_latin_digits():
    root = parse(
        monthly_flow_chart(months(3, date(2026, 11, 1)), currency="USD", locale="km", title="T")
    )
    labels = {t.text: t.get("lang") for t in texts(root)}
    assert labels["វិច្ឆិកា"] == "km"
    assert "2026" in labels and "2027" in labels
    assert not re.search("[០-៩]", str(ET.tostring(root, encoding="unicode")))


def test_control_characters_do_not_break_xml():
    root = parse(
        bar_chart([("bell\x07 null\x00 ok", 5)], currency="USD", locale="en", title="t\x1b")
    )
    assert "bell null ok" in [t.text for t in texts(root)]


@pytest.mark.parametrize("chart", [monthly_flow_chart, bar_chart])
def test_empty_state(chart):
    root = parse(chart([], currency="USD", locale="en", title="Nothing"))
    assert [t.text for t in texts(root)] == ["Nothing", "No data yet"]  # the title, visible
    root = parse(
        chart(
            [], currency="USD", locale="en", title="T", gettext={"No data yet": "មិនទាន់មានទិន្នន័យ"}.get
        )
    )
    assert texts(root)[-1].get("lang") == "km"
    root = parse(
        chart(
            [],
            currency="USD",
            locale="en",
            title="T",
            empty_text="No expenses yet — record the first one",
        )
    )
    assert texts(root)[-1].text == "No expenses yet — record the first one"


def test_bar_lengths_proportional():
    rows = [("a", 1_000), ("b", 250_000), ("c", 1_000_000), ("d", 0), ("e", 333_333)]
    root = parse(bar_chart(rows, currency="USD", locale="en", title="T"))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert [int(b.get("data-value")) for b in bars] == [v for _, v in rows]
    widths = [float(b.get("width")) for b in bars]
    full = widths[2]
    assert 200 < full <= view_box(root)[2]
    for (_, value), width in zip(rows, widths, strict=True):
        assert width == pytest.approx(full * value / 1_000_000, abs=0.01)


def test_bar_values_match_table():
    svg = bar_chart(CATEGORIES, currency="USD", locale="km", title="T")
    table = bar_table(CATEGORIES, currency="USD", locale="km", title="T", label_header="Cat")
    shown = [t.text for t in texts(parse(svg))]
    for label, amount in table.rows:
        assert shown.index(label) + 1 == shown.index(amount)  # amount right after its label
    assert table.rows[0] == ("Food", "1,234.56$")


def test_flow_table_matches_chart():
    points = months(5)
    table = flow_table(points, currency="USD", locale="en", title="T")
    root = parse(monthly_flow_chart(points, currency="USD", locale="en", title="T"))
    tips = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g")]
    assert len(tips) == len(table.rows) == 5
    for tip, (month, money_in, money_out, balance) in zip(tips, table.rows, strict=True):
        assert tip == f"{month}: money in {money_in}, money out {money_out}, balance {balance}"
    assert table.rows[0] == ("Jan 2025", "$100.00", "$375.00", "-$275.00")


def test_chart_table_html_is_escaped_table():
    table = bar_table(
        [(EVIL_LABEL, 5), (KHMER_LABEL, 7)],
        currency="USD",
        locale="en",
        title="<T>",
        label_header="Category",
    )
    html = Markup(table)  # Jinja uses __html__
    root = ET.fromstring(str(html))
    assert root.tag == "table" and root.find("caption").text == "<T>"
    assert [th.text for th in root.iter("th")][:2] == ["Category", "Amount"]
    row_heads = root.findall("./tbody/tr/th")
    assert row_heads[0].text == EVIL_LABEL and row_heads[1].get("lang") == "km"
    assert isinstance(table, ChartTable)


def test_single_month_and_negative_balance():
    point = MonthlyFlow(date(2026, 2, 1), 0, 50_000, -50_000)
    root = parse(monthly_flow_chart([point], currency="USD", locale="en", title="T"))
    assert not list(root.iter(f"{SVG}polyline"))
    markers = [c for c in root.iter(f"{SVG}circle") if c.get("r") == "3"]
    zero_line = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-width") == "1"]
    assert len(zero_line) == 1
    assert float(markers[-1].get("cy")) > float(zero_line[0].get("y1"))  # below zero
    assert {"-$600", "$0", "$600"} <= {t.text for t in texts(root)}


def test_gaps_are_months_without_movement():
    points = [MonthlyFlow(date(2025, 11, 1), 100, 0, 100), MonthlyFlow(date(2026, 2, 1), 0, 50, 50)]
    filled = normalise_flow(reversed(points))
    assert [p.month for p in filled] == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    assert filled[1] == MonthlyFlow(date(2025, 12, 1), 0, 0, 100)
    with pytest.raises(ValueError, match="two entries"):
        normalise_flow(points + points[:1])


def test_bad_points_rejected():
    with pytest.raises(TypeError):
        MonthlyFlow(date(2025, 1, 1), 1.5, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MonthlyFlow(date(2025, 1, 2), 1, 0, 0)
    with pytest.raises(ValueError):
        MonthlyFlow(date(2025, 1, 1), -1, 0, 0)
    with pytest.raises(ValueError):
        bar_chart([("x", -1)], currency="USD", locale="en", title="T")


def test_deterministic_and_distinct_ids():
    a1 = monthly_flow_chart(months(3), currency="USD", locale="en", title="A")
    a2 = monthly_flow_chart(months(3), currency="USD", locale="en", title="A")
    b = monthly_flow_chart(months(3), currency="USD", locale="en", title="B")
    assert a1 == a2
    assert parse(a1).get("aria-labelledby") != parse(b).get("aria-labelledby")


def test_legend_translated_through_gettext():
    km = {"Money in": "ប្រាក់ចូល", "Money out": "ប្រាក់ចេញ", "Balance": "សមតុល្យ"}
    root = parse(
        monthly_flow_chart(
            months(2), currency="USD", locale="km", title="T", gettext=lambda s: km.get(s, s)
        )
    )
    shown = {t.text: t.get("lang") for t in texts(root)}
    assert all(shown[word] == "km" for word in km.values())


def test_format_money_latin_digits():
    assert format_money(Money(123_450, "USD"), "km") == "១,២៣៤.៥០$"
    assert format_money(Money(123_450, "USD"), "km", latin_digits=True) == "1,234.50$"


@given(st.integers(-(10**15), 0), st.integers(0, 10**15))
def test_nice_ticks(lo, hi):
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0]
    assert all(b - a == step for a, b in pairwise(ticks))
    assert re.fullmatch(r"[125]0*", str(step))
    assert ticks[0] <= lo and ticks[-1] >= hi and 0 in ticks
    assert ticks[0] > lo - step and ticks[-1] < max(hi, lo + 1) + step  # 0..0 gives 0, 1
    assert 2 <= len(ticks) <= 7
    if hi - lo > 5:
        assert len(ticks) >= 4


amounts = st.integers(0, 10**14)
flows = st.lists(
    st.tuples(st.integers(0, 200), amounts, amounts, st.integers(-(10**14), 10**14)),
    min_size=1,
    max_size=40,
    unique_by=lambda t: t[0],
)


@settings(max_examples=60, deadline=None)
@given(
    flows,
    st.sampled_from(["en", "km", "fr", "de_CH"]),
    st.sampled_from(["USD", "KHR", "JPY", "KWD"]),
)
def test_flow_chart_stays_inside_its_view_box(rows, locale, currency):
    points = [MonthlyFlow(date(2020 + m // 12, m % 12 + 1, 1), i, o, b) for m, i, o, b in rows]
    root = parse(monthly_flow_chart(points, currency=currency, locale=locale, title="T"))
    _, _, width, height = view_box(root)
    in_defs = set(root.find(f"{SVG}defs").iter())
    for el in root.iter():
        if el in in_defs:
            continue
        for attr in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy"):
            if el.get(attr) is not None:
                limit = width if "x" in attr else height
                assert -0.01 <= float(el.get(attr)) <= limit + 0.01, (el.tag, attr)
        if el.tag == f"{SVG}rect" and el.get("width"):
            assert float(el.get("width")) >= 0 and float(el.get("height")) >= 0


def test_renders_in_weasyprint_without_errors(caplog):
    import weasyprint

    charts = "".join(str(svg) for svg in all_charts())
    with caplog.at_level("WARNING", logger="weasyprint"):
        pdf = weasyprint.HTML(string=f"<html><body>{charts}</body></html>").write_pdf()
    assert pdf.startswith(b"%PDF")
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


# --- titles, axis labels and the scale -----------------------------------------------------


def _bars(root: ET.Element) -> list[ET.Element]:
    """The periods drawn: one <g> (with its tooltip) per month, quarter or year."""
    return [g for g in root.iter(f"{SVG}g") if g.find(f"{SVG}title") is not None]


@pytest.mark.parametrize(
    ("count", "scale", "periods", "axis"),
    [
        (12, "month", 12, "Month"),
        (24, "month", 24, "Month"),
        (25, "quarter", 9, "Quarter"),
        (96, "quarter", 32, "Quarter"),
        (144, "year", 12, "Year"),  # twelve years: twelve bars, never one flat line
    ],
)
def test_the_flow_chart_picks_its_scale(count, scale, periods, axis):
    points = months(count)
    root = parse(monthly_flow_chart(points, currency="USD", locale="en", title="Money"))
    assert len(_bars(root)) == periods
    shown = [t.text for t in texts(root)]
    assert shown[0] == "Money" and "Amount (USD)" in shown and shown[-1] == axis
    markers = [c for c in root.iter(f"{SVG}circle") if c.get("r") == "3"]
    assert len(markers) == periods + 1  # one balance point per period, plus the legend's
    table = flow_table(points, currency="USD", locale="en", title="Money")
    assert len(table.rows) == periods and table.header[0] == axis


def test_twelve_years_are_summed_by_year_and_the_balance_is_each_years_end():
    points = months(144, date(2014, 1, 1))
    table = flow_table(points, currency="USD", locale="en", title="T")
    assert [row[0] for row in table.rows] == [str(y) for y in range(2014, 2026)]
    first_year = points[:12]
    money_in = sum(p.in_minor for p in first_year)
    assert table.rows[0][1] == format_money(Money(money_in, "USD"), "en", latin_digits=True)
    balance = first_year[-1].balance_minor
    assert table.rows[0][3] == format_money(Money(balance, "USD"), "en", latin_digits=True)
    root = parse(monthly_flow_chart(points, currency="USD", locale="en", title="T"))
    heights = [float(r.get("height")) for g in _bars(root) for r in g.iter(f"{SVG}rect")]
    assert len(set(heights)) > 6  # the years differ visibly


def test_quarters_are_labelled_with_their_year():
    root = parse(monthly_flow_chart(months(36), currency="USD", locale="en", title="T"))
    shown = [t.text for t in texts(root)]
    assert {"Q1", "2025", "2026", "2027"} <= set(shown)
    tips = [g.find(f"{SVG}title").text for g in _bars(root)]
    assert tips[0].startswith("Q1 2025: money in ")


def test_titles_and_axis_labels_in_khmer():
    km = {
        "Amount (%(currency)s)": "ចំនួនទឹកប្រាក់ (%(currency)s)",
        "Year": "ឆ្នាំ",
        "Category": "ប្រភេទ",
    }

    def gettext(message: str) -> str:
        return km.get(message, message)

    root = parse(
        monthly_flow_chart(
            months(144), currency="USD", locale="km", title="លំហូរប្រាក់", gettext=gettext
        )
    )
    shown = texts(root)
    assert shown[0].text == "លំហូរប្រាក់" and shown[0].get("lang") == "km"
    assert root.find(f"{SVG}title").text == "លំហូរប្រាក់"
    assert "ចំនួនទឹកប្រាក់ (USD)" in [t.text for t in shown] and shown[-1].text == "ឆ្នាំ"
    bars = parse(
        bar_chart(
            CATEGORIES,
            currency="USD",
            locale="km",
            title="ចំណាយតាមប្រភេទ",
            label_header="ប្រភេទ",
            gettext=gettext,
        )
    )
    shown = [t.text for t in texts(bars)]
    assert shown[:3] == ["ចំណាយតាមប្រភេទ", "ប្រភេទ", "ចំនួនទឹកប្រាក់ (USD)"]


def test_a_long_title_wraps_inside_the_chart():
    title = "Money in and out of every fund of the association, all the years together"
    root = parse(monthly_flow_chart(months(3), currency="USD", locale="en", title=title))
    heads = [t for t in texts(root) if t.get("class") == "chart-title"]
    assert len(heads) == 2 and " ".join(t.text for t in heads) == title
    assert all(float(t.get("x")) + len(t.text) * 0.62 * 14 <= 400 for t in heads)
