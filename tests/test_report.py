"""The transparency report: data from the book, PDF in English and Khmer, the route."""

from __future__ import annotations

import logging
import re
import subprocess
from collections import Counter
from datetime import date

import pytest
from fontTools.ttLib import TTFont
from sqlalchemy import func, select

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, LedgerEntry
from ceroc_donations.extensions import db
from ceroc_donations.money import Money, format_money, to_khmer_digits
from ceroc_donations.privacy import ANONYMOUS_EN, ANONYMOUS_KM
from ceroc_donations.rendering import FONT_FILES
from ceroc_donations.rendering.charts import MonthlyFlow, flow_periods, period_label
from ceroc_donations.rendering.khmer import ZWSP, insert_word_breaks, khmer_words
from ceroc_donations.rendering.report import (
    ReportData,
    render_report_html,
    render_report_pdf,
    report_context,
)
from tests.conftest import ROLES, contribution_form
from tests.rendering_support import glyph_runs

#: Names that must never appear in the report: the donor and the gift asked for anonymity.
SECRET_DONOR = "Zqxmarker Secretperson"
SECRET_GIFT_DONOR = "Qwvmarker Hiddengift"
FONT_NAMES = {"CEROC-Khmer": "khmer", "CEROC-Khmer-Bold": "khmer_bold", "CEROC-Serif": "serif",
              "CEROC-Serif-Bold": "serif_bold", "CEROC-Muol": "muol"}  # fmt: skip
SINCE, UNTIL = date(2025, 1, 1), date(2025, 12, 31)
needs_poppler = pytest.mark.tools("pdftotext")


@pytest.fixture
def book(app):
    """Gifts and expenses in 2024 and 2025, some voided, some anonymous; no context kept."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        general = svc.create_fund("general", "General", name_km="ទូទៅ", by=user)
        promo = svc.create_fund("promotion", "Promotion & petition collection", by=user)

        def donor(name, **extra):
            return svc.create_donor(parse_donor({"name_en": name, **extra}), by=user)

        cnrp = donor(
            "CNRP Minnesota",
            name_km="គណបក្សសង្គ្រោះជាតិ មីនីសូតា",
            email="secret-mail@example.org",
            postal_address="12 Hidden Street",
        )
        secret = donor(SECRET_DONOR, kind="person", public_display="anonymous")
        hidden = donor(SECRET_GIFT_DONOR, kind="person")
        sok = donor("Sok Dara", kind="person", name_km="សុខ ដារា")

        def gift(d, fund, day, amount, **extra):
            form = contribution_form(d.id, fund.id, received_on=day, amount=amount, **extra)
            return svc.record_contribution(parse_contribution(form), by=user)

        gift(cnrp, general, "2024-11-02", "1000.00")  # before the period: opening balance
        gift(cnrp, general, "2025-02-10", "400.00")
        gift(secret, promo, "2025-03-15", "250.00")
        gift(hidden, general, "2025-03-20", "75.25", public_display="anonymous")
        gift(sok, general, "2025-06-01", "100.00", public_display="initials")
        gift(cnrp, promo, "2025-07-04", "700.00", currency="CAD", exchange_rate="0.73")
        void = gift(cnrp, general, "2025-08-08", "9999.99")
        svc.void_contribution(void, "typed twice", by=user)

        def expense(day, amount, category, fund):
            return svc.record_expense(
                parse_expense(
                    {
                        "paid_on": day,
                        "payee": "Print shop",
                        "amount": amount,
                        "currency": "USD",
                        "category": category,
                        "fund_id": str(fund.id),
                    }
                ),
                by=user,
            )

        expense("2024-12-01", "30.00", "fees", general)
        expense("2025-03-01", "120.00", "printing", promo)
        expense("2025-05-05", "80.50", "promotion", promo)
        svc.void_expense(expense("2025-05-06", "500.00", "travel", general), "wrong", by=user)
        db.session.commit()
    return app


def ledger_sum(direction, *where) -> int:
    return db.session.execute(
        select(func.coalesce(func.sum(LedgerEntry.base_amount_minor), 0)).where(
            LedgerEntry.voided.is_(False), LedgerEntry.direction == direction, *where
        )
    ).scalar_one()


def build(app, since=SINCE, until=UNTIL) -> ReportData:
    from ceroc_donations.ledger.report import build_report

    with app.app_context():
        return build_report(since, until, generated_on=date(2026, 1, 5))


def pdftext(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    return text.replace("\u200b", "")


def khmer_glyphs(text: str, key: str = "khmer") -> list[int]:
    """HarfBuzz glyph ids of *text* set in our Khmer font, word by word as Pango does."""
    import uharfbuzz as hb

    font = hb.Font(hb.Face(hb.Blob.from_file_path(str(FONT_FILES[key]))))
    glyphs = []
    for word in insert_word_breaks(text).replace(" ", ZWSP).split(ZWSP):
        if word:
            buffer = hb.Buffer()
            buffer.add_str(word)
            buffer.guess_segment_properties()
            buffer.language = "km"
            hb.shape(font, buffer)
            glyphs += [info.codepoint for info in buffer.glyph_infos]
    return glyphs


def shows_khmer(pdf: bytes, text: str) -> bool:
    """Whether *text* is printed, shaped, in the Khmer font: text extraction cannot tell
    (Khmer clusters come out of pdftotext and pypdf scrambled), glyph ids can."""
    runs = glyph_runs(pdf).get("CEROC-Khmer", [])
    with TTFont(str(FONT_FILES["khmer"]), lazy=True) as font:
        space = font.getGlyphID(font.getBestCmap()[0x20])
    runs = [gid for gid in runs if gid != space]
    needle = khmer_glyphs(text)
    return any(runs[i : i + len(needle)] == needle for i in range(len(runs) - len(needle) + 1))


def test_data_totals_are_sums_of_non_voided_entries(book):
    data = build(book)
    with book.app_context():
        in_period = (LedgerEntry.entry_on >= SINCE, LedgerEntry.entry_on <= UNTIL)
        assert data.in_minor == ledger_sum("in", *in_period)
        assert data.out_minor == ledger_sum("out", *in_period)
        before = LedgerEntry.entry_on < SINCE
        assert data.opening_minor == ledger_sum("in", before) - ledger_sum("out", before)
        n = db.session.execute(
            select(func.count())
            .select_from(Contribution)
            .where(Contribution.voided.is_(False), Contribution.received_on.between(SINCE, UNTIL))
        ).scalar_one()
    assert data.in_minor == 40000 + 25000 + 7525 + 10000 + 51100  # CA$700 × 0.73 = US$511
    assert data.out_minor == 12000 + 8050
    assert data.opening_minor == 100000 - 3000
    assert len(data.contributions) == n == 5
    assert sum(f.in_minor for f in data.funds) == data.in_minor
    assert sum(f.closing_minor for f in data.funds) == data.closing_minor
    assert [(c.code, c.out_minor) for c in data.categories] == [
        ("printing", 12000),
        ("promotion", 8050),
    ]
    assert data.monthly[-1].balance_minor == data.closing_minor
    assert sum(p.in_minor for p in data.monthly) == data.in_minor


def test_display_names(book):
    names = [(c.name_en, c.name_km) for c in build(book).contributions]
    assert names == [
        ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"),
        (ANONYMOUS_EN, ANONYMOUS_KM),
        (ANONYMOUS_EN, ANONYMOUS_KM),
        ("S. D.", "S. D."),
        ("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"),
    ]


def test_group_only_names_groups(ctx, user, funds):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor
    from ceroc_donations.ledger.report import display_names

    group = svc.create_donor(parse_donor({"name_en": "IKA"}), by=user)
    person = svc.create_donor(parse_donor({"name_en": "Mrs. Janet Seng", "kind": "person"}),
                              by=user)  # fmt: skip
    both = svc.record_contribution(
        parse_contribution(
            contribution_form(group.id, funds[0].id, public_display="group_only"),
            donor_ids=[str(group.id), str(person.id)],
        ),
        by=user,
    )
    alone = svc.record_contribution(
        parse_contribution(contribution_form(person.id, funds[0].id, public_display="group_only")),
        by=user,
    )
    assert display_names(both) == ("IKA & Individual donor", "IKA និង អ្នកបរិច្ចាគជាបុគ្គល")
    assert display_names(alone) == ("Individual donor", "អ្នកបរិច្ចាគជាបុគ្គល")


@pytest.mark.parametrize("kind", ["group", "person"])
@pytest.mark.parametrize("donor_display", ["named", "anonymous"])
@pytest.mark.parametrize(
    "gift_display", ["default", "full_name", "group_only", "initials", "anonymous"]
)
def test_english_names_match_the_ledger_page(ctx, kind, donor_display, gift_display):
    from types import SimpleNamespace

    from ceroc_donations.ledger.report import display_names

    for name in ("Sok Dara", "Mrs. Janet Seng (Lowell)", "CNRP Minnesota & IKA"):
        donor = SimpleNamespace(
            name_en=name, name_km="ឈ្មោះ", kind=kind, public_display=donor_display
        )
        gift = SimpleNamespace(public_display=gift_display, donors=[donor])
        hidden = "anonymous" in (donor_display, gift_display)
        assert (display_names(gift)[0] == ANONYMOUS_EN) == hidden
        if gift_display == "group_only" and kind == "person" and not hidden:
            assert display_names(gift) == ("Individual donor", "អ្នកបរិច្ចាគជាបុគ្គល")


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "km"])
def test_pdf_shows_totals_and_hides_anonymous_names(book, lang, tmp_path):
    data = build(book)
    pdf = render_report_pdf(data, lang)
    assert pdf.startswith(b"%PDF")
    text = pdftext(pdf, tmp_path)
    locale = "en" if lang == "en" else "km"
    for minor in (data.in_minor, data.out_minor, data.opening_minor, data.closing_minor):
        assert format_money(Money(minor, "USD"), locale, latin_digits=True) in text
    for secret in (
        SECRET_DONOR,
        SECRET_GIFT_DONOR,
        "Zqxmarker",
        "Qwvmarker",
        "secret-mail",
        "Hidden Street",
    ):
        assert secret not in text
    html = render_report_html(data, lang)
    assert SECRET_DONOR not in html and SECRET_GIFT_DONOR not in html
    assert "9,999.99" not in text  # the voided gift
    if lang == "en":
        assert ANONYMOUS_EN in text
        assert "CNRP Minnesota" in text and "Printing" in text
        assert "Nothing was received or spent" not in text
    else:
        for words in (ANONYMOUS_KM, "គណបក្សសង្គ្រោះជាតិ មីនីសូតា", "ការបោះពុម្ព"):
            assert shows_khmer(pdf, words), words
        assert not shows_khmer(pdf, "ការធ្វើដំណើរ")  # travel: only a voided expense


@pytest.mark.parametrize("lang", ["en", "km"])
def test_no_missing_glyphs_nor_dotted_circles(book, lang, caplog):
    caplog.set_level(logging.WARNING, logger="weasyprint")
    runs = glyph_runs(render_report_pdf(build(book), lang))
    if lang == "km":
        assert "CEROC-Khmer" in runs
    for name, glyphs in runs.items():
        with TTFont(str(FONT_FILES[FONT_NAMES[name]]), lazy=True) as font:
            dotted = font.getGlyphID(font.getBestCmap()[0x25CC])
            count = font["maxp"].numGlyphs
        assert 0 not in glyphs, f".notdef in {name}"
        assert all(gid < count for gid in glyphs), f"missing glyph in {name}"
        assert dotted not in glyphs, f"dotted circle in {name}"
    assert not [r for r in caplog.records if "notdef" in r.getMessage()]


@pytest.mark.tools("pdffonts")
@pytest.mark.parametrize("lang", ["en", "km"])
def test_every_font_embedded(book, lang, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(render_report_pdf(build(book), lang))
    lines = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                           text=True).stdout.splitlines()[2:]  # fmt: skip
    assert lines
    for line in lines:
        name, emb = line.split()[0], line.split()[-5]
        assert emb == "yes", line
        assert name.split("+")[-1] in FONT_NAMES, f"unexpected font {name}"


@needs_poppler
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("en", "Nothing was received or spent in this period."),
        ("km", "គ្មានប្រាក់ចូល ឬប្រាក់ចេញក្នុងរយៈពេលនេះទេ។"),
    ],
)
def test_empty_period_says_so(book, lang, message, tmp_path):
    data = build(book, date(2030, 1, 1), date(2030, 3, 31))
    assert data.is_empty and not data.contributions and not data.monthly
    pdf = render_report_pdf(data, lang)
    if lang == "km":
        assert shows_khmer(pdf, message)
    else:
        assert message in pdftext(pdf, tmp_path)


def test_report_data_refuses_a_backwards_period():
    with pytest.raises(ValueError):
        ReportData(SINCE, date(2024, 1, 1), "USD", 0, 0, 0)
    with pytest.raises(ValueError):
        render_report_html(ReportData(SINCE, UNTIL, "USD", 0, 0, 0), "fr")


# --- the route ------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(book, client):
    response = client.get("/ledger/report.pdf")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@needs_poppler
@pytest.mark.parametrize("role", ROLES)
def test_every_role_downloads_the_pdf(book, client, auth, role, tmp_path):
    auth.login(role)
    response = client.get("/ledger/report.pdf?from=2025-01-01&to=2025-12-31&lang=en")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "ceroc-report-2025-01-01-2025-12-31-en.pdf" in response.headers["Content-Disposition"]
    assert "$1,336.25" in pdftext(response.data, tmp_path)  # 400 + 250 + 75.25 + 100 + 511


def test_default_period_is_this_year_in_khmer(book, client, auth):
    auth.login("member")
    response = client.get("/ledger/report.pdf?lang=km")
    assert response.status_code == 200
    year = date.today().year
    assert (
        f"ceroc-report-{year}-01-01-{year}-12-31-km.pdf" in response.headers["Content-Disposition"]
    )


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-13-01",
        "to=yesterday",
        "from=2025-02-30",
        "from=2025-12-31&to=2025-01-01",
        "lang=fr",
        "from=%00",
    ],
)
def test_bad_parameters_are_400(book, client, auth, query):
    auth.login("member")
    response = client.get(f"/ledger/report.pdf?{query}")
    assert response.status_code == 400
    assert b"%PDF" not in response.data
    body = response.get_data(as_text=True)
    assert "YYYY-MM-DD" in body or "before" in body or "en or km" in body


@pytest.mark.parametrize("lang", ["en", "km"])
def test_the_report_carries_the_audit_head(book, app, lang):
    """A copy of the report kept elsewhere proves later that no event was cut off the end."""
    from ceroc_donations import audit

    data = build(app)
    with app.app_context():
        head = str(audit.head())
    assert data.audit_head == head and head.split(":")[0] != "0"
    html = render_report_html(data, lang)
    assert head in html


# --- charts as HTML text, one grouping, one rule for digits ---------------------------

LATIN_DIGIT = re.compile("[0-9]")
KHMER_DIGIT = re.compile("[\u17e0-\u17e9]")


def raw_text(pdf: bytes) -> str:
    """``pdftotext -raw``, as a search in a PDF reader sees the text."""
    out = subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, check=True,
                         capture_output=True).stdout  # fmt: skip
    return out.decode().replace(ZWSP, "")


@needs_poppler
def test_khmer_chart_labels_are_text_a_search_finds(book):
    data = build(book)
    html = render_report_html(data, "km")
    figures = re.findall(r"<figure.*?</figure>", html, re.S)
    assert len(figures) == 2
    assert "<text" not in html  # no SVG text: WeasyPrint would not shape it
    text = raw_text(render_report_pdf(data, "km"))
    chart_words = khmer_words("".join(figures))
    assert len(set(chart_words)) > 15
    # Each chart word is found at least as often as the whole page prints it (the tables
    # say most of them too: a chart whose labels were lost would fall short).
    printed = Counter(khmer_words(html))
    missing = [w for w in set(chart_words) if text.count(w) < printed[w]]
    assert not missing
    for label in ("ចំនួនទឹកប្រាក់ (USD)", "ប្រភេទ", "ខែ", "កុម្ភៈ", "២០២៥", "ការបោះពុម្ព"):
        assert label in text, label
    assert text.count("ចំនួនទឹកប្រាក់ (USD)") == 2  # the axis name of each chart
    # The section heading is the chart's title: printed once, not again inside the chart.
    assert text.count("ប្រាក់ចូល និងប្រាក់ចេញប្រចាំខែ") == 1
    assert text.count("ចំណាយតាមប្រភេទ") == 1


@needs_poppler
def test_english_chart_titles_are_not_repeated(book):
    text = raw_text(render_report_pdf(build(book), "en"))
    assert text.count("Money in and out per month") == 1
    assert text.count("Spending by category") == 1
    assert text.count("Amount (USD)") == 2
    assert "Feb" in text and "Printing" in text


def months(first: date, count: int) -> list[MonthlyFlow]:
    points, balance = [], 0
    for i in range(count):
        balance += 1000 - 400
        month = date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        points.append(MonthlyFlow(month, 1000, 400, balance))
    return points


@pytest.mark.parametrize(
    ("count", "scale", "heading", "first_label"),
    [
        (12, "month", "Money in and out per month", "Jan 2020"),
        (36, "quarter", "Money in and out per quarter", "Q1 2020"),
        (120, "year", "Money in and out per year", "2020"),
    ],
)
def test_the_flow_table_groups_as_the_chart(count, scale, heading, first_label):
    points = months(date(2020, 1, 1), count)
    data = ReportData(date(2020, 1, 1), points[-1].month, "USD", 0, 1000 * count, 400 * count,
                      monthly=points)  # fmt: skip
    context = report_context(data, "en")
    chart = context["flow_chart"]
    periods = flow_periods(points)
    assert chart.scale == scale == periods[0].scale
    assert [row[0] for row in context["flow_rows"]] == [period_label(p, "en") for p in periods]
    assert context["flow_rows"][0][0] == first_label
    assert len([b for b in chart.bars if b.kind == "in"]) == len(periods)
    # The table's money in adds up to the period's, whatever the grouping.
    total = sum(int(row[1].replace("$", "").replace(",", "").replace(".", ""))
                for row in context["flow_rows"])  # fmt: skip
    assert total == data.in_minor
    html = render_report_html(data, "en")
    assert html.count(heading) == 1
    assert f'<th scope="col" class="name">{context["period_header"]}</th>' in html
    km = report_context(data, "km")
    assert [row[0] for row in km["flow_rows"]] == [
        to_khmer_digits(period_label(p, "km")) for p in periods
    ]


def test_khmer_digits_in_text_and_dates_latin_in_amounts(book):
    context = report_context(build(book), "km")
    for text in (context["period"], context["generated"], context["contribution_count"],
                 context["contribution_total"]):  # fmt: skip
        assert KHMER_DIGIT.search(text) and not LATIN_DIGIT.search(text), text
    for received, _ref, _donor, _fund, amount, _base in context["contributions"]:
        assert KHMER_DIGIT.search(received) and not LATIN_DIGIT.search(received)
        assert LATIN_DIGIT.search(amount) and not KHMER_DIGIT.search(amount)
    for period, *amounts in context["flow_rows"]:
        assert KHMER_DIGIT.search(period) and not LATIN_DIGIT.search(period)
        assert all(LATIN_DIGIT.search(a) and not KHMER_DIGIT.search(a) for a in amounts)
    chart = context["flow_chart"]
    assert all(not LATIN_DIGIT.search(p.name + (p.year or "")) for p in chart.labels)
    assert all(not KHMER_DIGIT.search(t.label) for t in chart.ticks)
    assert all(not KHMER_DIGIT.search(row.amount) for row in context["bar_chart"])
    for _name, count, amount in context["categories"]:
        assert count.isascii() and amount.isascii()
