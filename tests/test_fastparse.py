"""Our designs parsed by expat: the very tree tinyhtml5 builds, the very same PDFs."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
import tinyhtml5
import weasyprint
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from tinyhtml5.constants import replacement_characters

from ceroc_donations.money import Money
from ceroc_donations.rendering import (
    Donor,
    GiftLine,
    LetterRenderer,
    LetterTexts,
    Verification,
    fastparse,
    render_html,
)
from ceroc_donations.rendering.report import (
    ContributionRow,
    FundRow,
    render_report_html,
    report_metadata,
)
from tests.rendering_support import sample_letter, sample_report, sample_statement

VERIFICATION = Verification("ABCDE-FGHJK", "https://ceroc.example/v/ABCDE-FGHJK")

#: What XML 1.0 forbids and HTML takes: C0 controls but tab, LF, CR; U+FFFE, U+FFFF.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def tree_difference(mine: Element, theirs: Element, path: str = "") -> str | None:
    """The first place two trees differ (tag, attributes and their order, text, tail,
    children), or None."""
    path = f"{path}/{theirs.tag}"
    if mine.tag != theirs.tag:
        return f"{path}: tag {mine.tag!r}"
    if list(mine.attrib.items()) != list(theirs.attrib.items()):
        return f"{path}: attributes {mine.attrib!r} != {theirs.attrib!r}"
    if mine.text != theirs.text:
        return f"{path}: text {mine.text!r} != {theirs.text!r}"
    if mine.tail != theirs.tail:
        return f"{path}: tail {mine.tail!r} != {theirs.tail!r}"
    if len(mine) != len(theirs):
        return f"{path}: {[c.tag for c in mine]} != {[c.tag for c in theirs]}"
    for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        found = tree_difference(a, b, f"{path}[{index}]")
        if found:
            return found
    return None


def tinyhtml5_tree(html: str) -> Element:
    return tinyhtml5.parse(html, namespace_html_elements=False)


def assert_same_tree(html: str) -> None:
    mine = fastparse.parse(html)
    assert mine is not None, fastparse.refusal(html)
    assert tree_difference(mine, tinyhtml5_tree(html)) is None


DESIGNS = {
    "thank you, bilingual": lambda: render_html(
        sample_letter(verification=VERIFICATION, address=("Sok Dara", "12 Main St"))
    ),
    "thank you, en": lambda: render_html(sample_letter(language="en", verification=VERIFICATION)),
    "thank you, km": lambda: render_html(
        sample_letter(language="km", address=("សុខ ដារា", "ភ្នំពេញ"), not_tax_receipt=False)
    ),
    "thank you, draft": lambda: render_html(sample_letter(number=None, paper="letter")),
    "statement, bilingual": lambda: render_html(
        sample_statement(verification=VERIFICATION), kind="statement"
    ),
    "statement, en": lambda: render_html(sample_statement(language="en"), kind="statement"),
    "statement, km": lambda: render_html(
        sample_statement(language="km", buddhist_era=True), kind="statement"
    ),
    "report, en": lambda: render_report_html(sample_report(), "en"),
    "report, km": lambda: render_report_html(sample_report(), "km"),
    "report, empty": lambda: render_report_html(
        replace(sample_report(0), funds=(), categories=(), monthly=(), in_minor=0, out_minor=0),
        "en",
    ),
}


@pytest.mark.parametrize("design", DESIGNS)
def test_every_design_gives_tinyhtml5s_tree(design):
    assert_same_tree(DESIGNS[design]())


def test_a_line_break_in_a_text_is_self_closed():
    texts = LetterTexts.default()
    texts = replace(texts, body_en=texts.body_en.replace(", received", ",\nreceived"))
    html = render_html(sample_letter(language="en"), texts)
    assert "<br />\n" in html
    assert_same_tree(html)


# --- Nasty data in every text field ---------------------------------------------------------

#: HTML and XML specials, every kind of whitespace and line end, joiners and marks, Khmer
#: with its subscripts, emoji, C1 controls, any other character, and what XML forbids.
NASTY = st.lists(
    st.one_of(
        st.sampled_from(
            list("<>&\"';=/!?#x0123456789abc ABC\t\n\r\u00a0\u200b\u200c\u200d\u2060\ufeff")
            + ["\r\n", "&amp;", "&#150;", "&nbsp;", "<br>", "<!--", "]]>", "</p>", "<![CDATA["]
            + list("ក្ខ្មែរ ស្រី ។ ៗ ០១២")
            + ["\U0001f600", "\U0001f1f0\U0001f1ed", "\u0085", "\u0096", "\ufdd0", "\U0001fffe"]
            + ["\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\ufffe", "\uffff"]
        ),
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
    ),
    max_size=16,
).map("".join)


def _check_nasty(html: str) -> None:
    """Text XML refuses must be left to tinyhtml5; anything else parsed to its tree."""
    mine = fastparse.parse(html)
    if XML_FORBIDDEN.search(html):
        event("a character XML forbids: left to tinyhtml5")
        assert mine is None
        return
    event("parsed by expat")
    assert mine is not None, fastparse.refusal(html)
    assert tree_difference(mine, tinyhtml5_tree(html)) is None


NASTY_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _xml_only(text: str | None) -> str | None:
    return None if text is None else XML_FORBIDDEN.sub("", text)


@NASTY_SETTINGS
@given(
    names=st.lists(st.tuples(NASTY, st.none() | NASTY), min_size=1, max_size=3),
    occasion=NASTY, occasion_km=NASTY, purpose=NASTY, purpose_km=NASTY, reference=NASTY,
    address=st.lists(NASTY, max_size=3), code=NASTY,
    language=st.sampled_from(["bilingual", "en", "km"]), draft=st.booleans(),
    forbidden=st.booleans(),
)  # fmt: skip
def test_nasty_letter_data(names, occasion, occasion_km, purpose, purpose_km, reference,
                           address, code, language, draft, forbidden):  # fmt: skip
    """*forbidden* keeps what XML forbids in the data (ten fields: nearly always some)."""
    text = str if forbidden else _xml_only
    data = sample_letter(
        number=None if draft else 7,
        donors=tuple(Donor(text(en), km and text(km)) for en, km in names),
        occasion=text(occasion), occasion_km=text(occasion_km), purpose=text(purpose),
        purpose_km=text(purpose_km), reference=text(reference),
        address=tuple(map(text, address)), language=language,
        verification=None if draft else Verification(
            text(code), "https://ceroc.example/v/" + text(code)
        ),
    )  # fmt: skip
    _check_nasty(render_html(data))


@NASTY_SETTINGS
@given(
    name=NASTY, name_km=st.none() | NASTY, references=st.lists(NASTY, min_size=1, max_size=3),
    language=st.sampled_from(["bilingual", "en", "km"]),
)  # fmt: skip
def test_nasty_statement_data(name, name_km, references, language):
    gifts = tuple(
        GiftLine(date(2026, 3, 1 + i), ref, Money(100 + i, "USD"))
        for i, ref in enumerate(references)
    )
    data = sample_statement(
        donors=(Donor(name, name_km),), gifts=gifts, language=language,
        amount=Money(sum(g.amount.minor for g in gifts), "USD"),
    )  # fmt: skip
    _check_nasty(render_html(data, kind="statement"))


@NASTY_SETTINGS
@given(
    rows=st.lists(st.tuples(NASTY, NASTY, NASTY, NASTY, st.none() | NASTY), max_size=4),
    funds=st.lists(st.tuples(NASTY, st.none() | NASTY), max_size=2),
    lang=st.sampled_from(["en", "km"]),
)
def test_nasty_report_data(rows, funds, lang):
    report = replace(
        sample_report(0),
        contributions=tuple(
            ContributionRow(date(2025, 2, 3), ref, en, km, fund_en, fund_km, Money(500, "USD"), 500)
            for ref, en, km, fund_en, fund_km in rows
        ),
        funds=tuple(FundRow(en, km, 0, 100, 50) for en, km in funds),
    )
    _check_nasty(render_report_html(report, lang))


@NASTY_SETTINGS
@given(field=st.sampled_from(["greeting_en", "body_en", "closing_km", "signatory_name_en",
                              "not_tax_receipt_en", "org_name_en", "title_en"]),
       text=NASTY)  # fmt: skip
def test_nasty_board_texts(field, text):
    """The board's texts: a line break becomes <br />, which the letter's <title> and the
    author <meta> cannot hold: those letters are parsed by tinyhtml5, as before."""
    text = text.replace("{", "(").replace("}", ")")
    assume(text.strip())
    html = render_html(sample_letter(), replace(LetterTexts.default(), **{field: text}))
    mine = fastparse.parse(html)
    if mine is not None:
        assert tree_difference(mine, tinyhtml5_tree(html)) is None
    elif not XML_FORBIDDEN.search(html):
        assert field in ("org_name_en", "title_en") and re.search("[\r\n]", text), (
            fastparse.refusal(html)
        )


# --- Any document: a tree from expat is tinyhtml5's, or there is none ----------------------

FLOW = ["p", "div", "section", "header", "figure", "ul", "ol", "dl", "h1", "h2", "pre", "table",
        "hr"]  # fmt: skip
PHRASING = ["span", "b", "i", "a", "em", "strong", "code", "sub", "sup", "br", "img", "wbr",
            "svg"]  # fmt: skip
CHILDREN = {
    "table": ["caption", "colgroup", "thead", "tbody", "tfoot"],
    "thead": ["tr"], "tbody": ["tr"], "tfoot": ["tr"], "tr": ["td", "th"], "colgroup": ["col"],
    "ul": ["li"], "ol": ["li"], "dl": ["dt", "dd"],
    "svg": ["path", "g", "circle", "polyline", "linearGradient", "text", "desc", "title", "a",
            "style", "svg"],
}  # fmt: skip
#: Whatever else may turn up anywhere: HTML that HTML rearranges, odd case, HTML in SVG.
ANY_NAME = [
    "title", "meta", "style", "script", "textarea", "select", "option", "form", "button",
    "font", "nobr", "listing", "P", "Div", "image", "math", "html", "body", "head", "li", "dd",
    "tr", "td", "tbody", "col", "lineargradient", "foreignObject", "Path", "p", "div", "span",
    "b", "a", "br", "h2", "table", "svg",
]  # fmt: skip
VOID = {"br", "img", "hr", "wbr", "col", "meta"}
TABLE_LIKE = {"table", "thead", "tbody", "tfoot", "tr", "colgroup"}
HTML_ATTRIBUTES = ["class", "id", "lang", "title", "data-x", "href", "xml:lang", "CLASS",
                   "xmlns"]  # fmt: skip
SVG_ATTRIBUTES = ["viewBox", "fill", "preserveAspectRatio", "xlink:href", "xmlns",
                  "xmlns:xlink", "d", "class", "viewbox", "Fill", "xml:space"]  # fmt: skip
VALUE_PIECES = ["a", "b c", " ", "&amp;", "&#10;", "&#13;", "&#9;", "&quot;", "'", "x/>", "ក្ខ",
                "\n", "\t", "\r"]  # fmt: skip
TEXT = ["x", "Ab c", " ", "\n", "\r\n", "\r", "\t", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;",
        "&#34;", "&#39;", "&#13;", "&#10;", "&#9;", "&#xfdd0;", "\u200b", "\u00a0", "ក្ខ",
        "\U0001f600", "\x85", "/>", ">", "'", '"', "="]  # fmt: skip
HOSTILE_TEXT = ["&#150;", "&#x80;", "&#x9F;", "&nbsp;", "\x0b", "]]>", "<!-- c -->",
                "<?pi x?>", "x\u0000"]  # fmt: skip
SPACE = [" ", "\n", "\r\n", "\t", "\n  "]


def _mischief(draw) -> bool:
    """Now and then, something HTML would read otherwise than XML."""
    return draw(st.integers(0, 24)) == 12  # not 0 or 24: hypothesis favours bounds


def _attributes(draw, svg: bool) -> str:
    pool = SVG_ATTRIBUTES if svg else HTML_ATTRIBUTES
    if not _mischief(draw):
        pool = pool[:5]
    names = draw(st.lists(st.sampled_from(pool), max_size=3, unique=True))
    pieces = VALUE_PIECES if _mischief(draw) else VALUE_PIECES[:-3]
    values = ["".join(draw(st.lists(st.sampled_from(pieces), max_size=3))) for _ in names]
    return "".join(f' {name}="{value}"' for name, value in zip(names, values, strict=True))


def _element(draw, name: str, depth: int, svg: bool) -> str:
    attributes = _attributes(draw, svg)
    if name in VOID and not svg:
        if _mischief(draw):
            return f"<{name}{attributes}></{name}>"
        return f"<{name}{attributes}/>"
    if svg and draw(st.booleans()) or depth <= 0 or _mischief(draw):
        if svg or _mischief(draw):
            return f"<{name}{attributes}/>"
        return f"<{name}{attributes}></{name}>"
    inner = _content(draw, name, depth - 1, svg or name == "svg")
    return f"<{name}{attributes}>{inner}</{name}>"


def _content(draw, parent: str, depth: int, svg: bool) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 2)) == 0:  # text
            if parent in TABLE_LIKE and not svg and not _mischief(draw):
                parts.append(draw(st.sampled_from(SPACE)))
            else:
                pool = HOSTILE_TEXT if _mischief(draw) else TEXT
                parts.append(draw(st.sampled_from(pool)))
            continue
        if _mischief(draw):
            name = draw(st.sampled_from(ANY_NAME))
        elif svg:
            name = draw(st.sampled_from(CHILDREN["svg"]))
        elif parent in CHILDREN:
            name = draw(st.sampled_from(CHILDREN[parent]))
        elif parent in ("p", "span", "b", "i", "a", "em", "strong", "code", "h1", "h2", "pre",
                        "sub", "sup", "dt", "th"):  # fmt: skip
            name = draw(st.sampled_from(PHRASING))
        else:
            name = draw(st.sampled_from(FLOW + PHRASING))
        parts.append(_element(draw, name, depth, svg or name == "svg"))
    return "".join(parts)


@st.composite
def documents(draw) -> str:
    """Documents like ours (XML that is HTML), with now and then what HTML reads otherwise."""
    space = st.sampled_from(["", "\n", " \r\n", "\t"])
    head = draw(st.sampled_from(["<title>t</title>", '<meta charset="utf-8"/>\n<title>t</title>',
                                 "", "\n<link rel='x' href='y'/>\n"]))  # fmt: skip
    if _mischief(draw):
        head = draw(st.sampled_from(["<title>a<b>c</b></title>", "x", "<title/>", "<p>x</p>"]))
    doctype = draw(st.sampled_from(["<!DOCTYPE html>", "<!DOCTYPE html>\n", ""]))
    if _mischief(draw):
        doctype = draw(st.sampled_from(
            ["<!-- c -->", "<?xml version='1.0'?>", "\ufeff", '<!DOCTYPE html SYSTEM "x">']
        ))  # fmt: skip
    parts = [
        doctype, draw(st.sampled_from(['<html lang="km">', "<html>"])), draw(space),
        "<head>", head, "</head>", draw(space),
        draw(st.sampled_from(["<body>", '<body class="letter">'])),
        _content(draw, "body", 4, False), "</body>", draw(space), "</html>", draw(space),
    ]  # fmt: skip
    if _mischief(draw):
        parts[3:6] = []  # no head
    return "".join(parts)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_tree_expat_gives_is_tinyhtml5s(html):
    mine = fastparse.parse(html)
    if mine is not None:
        assert tree_difference(mine, tinyhtml5_tree(html)) is None, html


REFUSED = {
    "comment": "<p><!-- x --></p>",
    "control character": "<p>a\x01b</p>",
    "NUL": "<p>a\x00b</p>",
    "HTML entity": "<p>a&nbsp;b</p>",
    "windows-1252 reference": "<p>&#150;</p>",
    "newline in an attribute": '<p title="a\nb">x</p>',
    "unclosed void": "<p>a<br>b</p>",
    "self-closed div": "<div/>",
    "block in p": "<p><div>x</div></p>",
    "tr in table": "<table><tr><td>x</td></tr></table>",
    "text in table": "<table>x<tbody></tbody></table>",
    "pre and newline": "<pre>\nx</pre>",
    "upper case": '<p CLASS="a">x</p>',
    "svg breakout": "<svg><p>x</p></svg>",
    "svg attribute case": '<svg viewbox="0 0 1 1"></svg>',
    "lone surrogate": "<p>\ud800</p>",
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_documents_are_left_to_tinyhtml5(case):
    html = f"<!DOCTYPE html><html><head><title>t</title></head><body>{REFUSED[case]}</body></html>"
    assert fastparse.parse(html) is None
    assert fastparse.refusal(html)
    document = fastparse.html_document(html, base_url="file:///tmp/")
    assert tree_difference(document.etree_element, tinyhtml5_tree(html)) is None


def test_remapped_references_are_all_found():
    """The references tinyhtml5 reads otherwise are all in U+0080..U+009F (&#0; is no XML)."""
    remapped = {code for code, char in replacement_characters.items() if chr(code) != char}
    assert remapped <= {0} | set(range(0x80, 0xA0))
    for code in range(0x200):
        for reference in (f"&#{code};", f"&#00{code};", f"&#x{code:x};", f"&#x{code:04X};"):
            assert bool(fastparse._REMAPPED_REFERENCE.fullmatch(reference)) == (
                0x80 <= code <= 0x9F
            ), reference


def test_whitespace_around_head_and_body_goes_where_tinyhtml5_puts_it():
    html = "<html>\n <head>\r\n<title>t</title></head>\n<body><p>x</p></body>\r\n</html>\n\n"
    root = fastparse.parse(html)
    assert root.text is None  # before <head>: dropped
    assert root[0].tail == "\n"
    assert root[1].tail is None and root[1][-1].tail == "\n\n\n"  # after </body>: in it
    assert tree_difference(root, tinyhtml5_tree(html)) is None


def test_svg_namespace_and_attributes():
    html = (
        "<html><head></head><body><svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'"
        " xmlns:xlink='http://www.w3.org/1999/xlink'><use xlink:href='#a' xml:space='x'/>"
        "<linearGradient/></svg><p xml:lang='km' xmlns='x'>y</p></body></html>"
    )
    svg = fastparse.parse(html)[1][0]
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert list(svg.attrib) == [
        "{http://www.w3.org/2000/xmlns/}xmlns", "viewBox", "{http://www.w3.org/2000/xmlns/}xlink",
    ]  # fmt: skip
    assert svg[0].attrib == {
        "{http://www.w3.org/1999/xlink}href": "#a",
        "{http://www.w3.org/XML/1998/namespace}space": "x",
    }
    assert svg[1].tag == "{http://www.w3.org/2000/svg}linearGradient"
    assert_same_tree(html)


# --- The weasyprint.HTML object and the PDFs --------------------------------------------------


def test_html_document_is_weasyprints_own():
    html = DESIGNS["thank you, bilingual"]()
    fetcher = weasyprint.urls.URLFetcher()
    mine = fastparse.html_document(html, base_url="/tmp/letters/", url_fetcher=fetcher)
    theirs = weasyprint.HTML(string=html, base_url="/tmp/letters/", url_fetcher=fetcher)
    assert mine.base_url == theirs.base_url == "file:///tmp/letters/"
    assert mine.url_fetcher is theirs.url_fetcher is fetcher
    assert mine.media_type == theirs.media_type == "print"
    assert tree_difference(mine.etree_element, theirs.etree_element) is None
    assert mine.wrapper_element.etree_element is mine.etree_element
    assert vars(mine).keys() == vars(theirs).keys()
    based = html.replace("</title>", '</title>\n<base href="sub/" />')
    assert fastparse.html_document(based, base_url="/tmp/x/").base_url == "file:///tmp/x/sub/"
    assert fastparse.html_document(html).base_url is None


@pytest.fixture(scope="module")
def renderers():
    return LetterRenderer(), LetterRenderer(fast_parse=False)


@pytest.fixture(scope="module")
def report_renderers():
    return (
        LetterRenderer(stylesheet="report.css"),
        LetterRenderer(stylesheet="report.css", fast_parse=False),
    )


@pytest.mark.parametrize(
    "data, kind",
    [
        (sample_letter(verification=VERIFICATION, address=("Sok Dara", "12 Main St")), "thank_you"),
        (sample_statement(language="km", verification=VERIFICATION), "statement"),
    ],
    ids=["letter", "statement"],
)
def test_letters_are_byte_for_byte_the_same(renderers, data, kind, monkeypatch):
    fast, slow = renderers
    texts = LetterTexts.default()
    expected = slow.archived_letter(data, texts, kind)
    with monkeypatch.context() as patch:
        patch.setattr(weasyprint.tinyhtml5, "parse", None)  # the fast path never calls it
        assert fast.archived_letter(data, texts, kind) == expected


def test_report_is_byte_for_byte_the_same(report_renderers, monkeypatch):
    fast, slow = report_renderers
    data = sample_report(60)
    html = render_report_html(data, "km", letters_dir=fast.letters_dir)
    metadata = report_metadata(data, "km")
    expected = slow.write(slow.render_document(html, **metadata))
    monkeypatch.setattr(weasyprint.tinyhtml5, "parse", None)
    assert fast.write(fast.render_document(html, **metadata)) == expected


def test_what_xml_forbids_still_renders(renderers):
    """A control character in a donor's name: WeasyPrint parses, the PDF is as before."""
    fast, slow = renderers
    data = sample_letter(donors=(Donor("Sok\x0bDara\x01"),), verification=VERIFICATION)
    html = render_html(data)
    assert fastparse.parse(html) is None
    texts = LetterTexts.default()
    pdf = fast.archived_letter(data, texts, "thank_you")
    assert pdf.startswith(b"%PDF-") and pdf == slow.archived_letter(data, texts, "thank_you")


# --- The pins -------------------------------------------------------------------------------


def test_pinned_weasyprint_and_tinyhtml5():
    assert weasyprint.__version__ == fastparse.WEASYPRINT_VERSION
    assert tinyhtml5.__version__ == fastparse.TINYHTML5_VERSION
    assert fastparse.source_digests() == fastparse.PATCHED
    fastparse.check_pinned()
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert f"weasyprint=={fastparse.WEASYPRINT_VERSION}" in project["project"]["dependencies"]
    assert f"tinyhtml5=={fastparse.TINYHTML5_VERSION}" in project["project"]["dependencies"]


def test_another_weasyprint_is_refused(monkeypatch):
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    with pytest.raises(RuntimeError, match=r"WeasyPrint 70\.0, found 71\.0 \(changed: version"):
        fastparse.check_pinned()


def test_a_changed_html_init_is_refused(monkeypatch):
    sources = fastparse._sources()
    sources["weasyprint.HTML.__init__"] += "        self.new_attribute = None\n"
    monkeypatch.setattr(fastparse, "_sources", lambda: sources)
    with pytest.raises(RuntimeError, match=r"found 70\.0 \(changed: weasyprint\.HTML\.__init__\)"):
        fastparse.check_pinned()


def test_another_tinyhtml5_is_refused(monkeypatch):
    monkeypatch.setattr(tinyhtml5, "__version__", "2.2.0")
    with pytest.raises(RuntimeError, match=r"tinyhtml5 2\.1\.0, found 2\.2\.0"):
        fastparse.check_pinned()
