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
    assert [t.text for t in texts(root)] == ["No data yet"]
    root = parse(
        chart(
            [], currency="USD", locale="en", title="T", gettext={"No data yet": "មិនទាន់មានទិន្នន័យ"}.get
        )
    )
    assert texts(root)[0].get("lang") == "km"
    root = parse(
        chart(
            [],
            currency="USD",
            locale="en",
            title="T",
            empty_text="No expenses yet — record the first one",
        )
    )
    assert texts(root)[0].text == "No expenses yet — record the first one"


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
