"""Paper and post, in the PDF itself: each design on A4 and on US Letter, with the longest
realistic content, stays inside its margins; the address block shows in the envelope's
window. Measured on WeasyPrint's own layout boxes."""

from __future__ import annotations

from datetime import date

import pytest

from ceroc_donations.demo import MINNESOTA_EN, MINNESOTA_KM
from ceroc_donations.money import Money
from ceroc_donations.rendering import Donor, GiftLine, LetterRenderer, render_html
from tests.rendering_support import sample_letter, sample_statement

MM = 96 / 25.4  # WeasyPrint lays out in CSS pixels
INCH = 96.0

#: Sheet sizes in mm.
SHEETS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}
#: The envelope's address window on the sheet, (left, top, right, bottom) in mm:
#: DIN 5008 form B's address field for a DL envelope, and a #10 envelope's window
#: (4.5 × 1.125 in, 7/8 in from the left) over a tri-folded US Letter sheet.
WINDOWS = {
    "a4": (20.0, 45.0, 105.0, 90.0),
    "letter": (0.875 * 25.4, 2.0 * 25.4, 5.375 * 25.4, 3.125 * 25.4),
}
#: Clear space around the address that no other print may enter (USPS asks 1/8 in).
CLEAR = 0.125 * 25.4

#: The longest address the donor form takes (name + 5 lines), with long words.
LONG_ADDRESS = (
    "Khmer Youth Movement of New Market, Ontario",
    "c/o Khmer Community Centre of York Region",
    "Attn: Mrs. Sokhavy Chanthavongsouk",
    "Unit 1502, 17955 Leslie Street North",
    "Newmarket ON  L3Y 8V4",
    "CANADA",
)
LONG_DONORS = (
    Donor(
        "Khmer Youth Movement of New Market, Ontario",
        "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត រដ្ឋអុនតារីយ៉ូ ប្រទេសកាណាដា",
    ),
    Donor("Cambodian National Rescue Party of Minnesota", "គណបក្សសង្គ្រោះជាតិ រដ្ឋមីនីសូតា"),
)


def long_letter(**changes):
    """A joint gift with long names in both scripts and the demo's long occasion and purpose."""
    values = dict(
        donors=LONG_DONORS,
        amount=Money(1250000, "USD"),
        occasion=MINNESOTA_EN[0],
        occasion_km=MINNESOTA_KM[0],
        purpose=MINNESOTA_EN[1],
        purpose_km=MINNESOTA_KM[1],
        address=LONG_ADDRESS,
    )
    values.update(changes)
    return sample_letter(**values)


def long_statement(**changes):
    """A year of monthly gifts in Canadian dollars, each with its value in US dollars."""
    gifts = tuple(
        GiftLine(
            date(2026, month, 28),
            f"C-2026-{month:04d}",
            Money(123456 + month, "CAD"),
            Money(90123 + month, "USD"),
        )
        for month in range(1, 13)
    )
    values = dict(
        donors=LONG_DONORS[:1],
        amount=Money(sum(g.counted.minor for g in gifts), "USD"),
        gifts=gifts,
        address=LONG_ADDRESS,
    )
    values.update(changes)
    return sample_statement(**values)


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


def _classes(box) -> set[str]:
    element = getattr(box, "element", None)
    return set((element.get("class") or "").split()) if element is not None else set()


def text_boxes(page):
    """(text, x0, y0, x1, y1 in mm, classes of its ancestors) of every text on *page*, the
    page-margin boxes (page number) aside."""
    from weasyprint.formatting_structure import boxes

    found = []

    def walk(box, classes):
        if isinstance(box, boxes.MarginBox):
            return
        classes = classes | _classes(box)
        if isinstance(box, boxes.TextBox):
            x, y = box.position_x / MM, box.position_y / MM
            found.append((box.text, x, y, x + box.width / MM, y + box.height / MM, classes))
        for child in getattr(box, "children", []):
            walk(child, classes)

    walk(page._page_box, set())
    return found


def block_of(page, name: str):
    """(x0, y0, x1, y1) in mm of the first box with class *name* on *page*."""

    def walk(box):
        if name in _classes(box):
            return box
        for child in getattr(box, "children", []):
            if (found := walk(child)) is not None:
                return found
        return None

    box = walk(page._page_box)
    assert box is not None, f"no .{name} on the page"
    x, y = box.position_x / MM, box.position_y / MM
    return (x, y, x + box.margin_width() / MM, y + box.margin_height() / MM)


def lines_wider_than_their_block(document):
    from weasyprint.formatting_structure import boxes

    bad = []

    def walk(box, block):
        if isinstance(box, boxes.LineBox):
            right = block.content_box_x() + block.width
            for child in box.descendants():
                if (
                    isinstance(child, boxes.TextBox)
                    and child.position_x + child.width > right + 0.01
                ):
                    bad.append(child.text)
            return
        if isinstance(box, boxes.BlockContainerBox):
            block = box
        for child in getattr(box, "children", []):
            walk(child, block)

    for page in document.pages:
        walk(page._page_box, page._page_box)
    return bad


def inside(inner, outer, slack: float = 0.1) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


CASES = {
    "typical": lambda paper: sample_letter(
        paper=paper, address=LONG_ADDRESS[:1] + LONG_ADDRESS[3:]
    ),
    "long": lambda paper: long_letter(paper=paper),
    "long-km": lambda paper: long_letter(paper=paper, language="km"),
    "long-en": lambda paper: long_letter(paper=paper, language="en"),
    "statement": lambda paper: sample_statement(
        paper=paper, address=LONG_ADDRESS[:1] + LONG_ADDRESS[3:]
    ),
    "statement-long": lambda paper: long_statement(paper=paper),
    "statement-long-en": lambda paper: long_statement(paper=paper, language="en"),
    "no-address": lambda paper: long_letter(paper=paper, address=()),
}
#: Pages each case takes on both papers. One sheet, except: the longest bilingual
#: statement (twelve gifts, listed twice), and the longest bilingual letter with a window
#: address (its Khmer details run beside the window, the rest under it), whose closing and
#: signatures then go together on a second sheet. Without the window it fits one.
PAGES = {"statement-long": 2, "long": 2}


@pytest.fixture(scope="module")
def documents(renderer):
    """Each case laid out once per paper."""
    laid_out = {}
    for name, make in CASES.items():
        for paper in SHEETS:
            data = make(paper)
            kind = "statement" if data.gifts else "thank_you"
            laid_out[name, paper] = (data, renderer.render_document(render_html(data, kind=kind)))
    return laid_out


@pytest.mark.parametrize("paper", SHEETS)
@pytest.mark.parametrize("case", CASES)
def test_each_design_fits_the_paper_without_overflow(documents, case, paper):
    data, document = documents[case, paper]
    assert len(document.pages) == PAGES.get(case, 1)
    width, height = SHEETS[paper]
    for page in document.pages:
        assert (round(page.width / MM, 1), round(page.height / MM, 1)) == (width, height)
        box = page._page_box
        area = (
            box.margin_left / MM,
            box.margin_top / MM,
            width - box.margin_right / MM,
            height - box.margin_bottom / MM,
        )
        outside = [t[0] for t in text_boxes(page) if not inside(t[1:5], area)]
        assert outside == [], f"text in the margins or off the sheet: {outside[:5]}"
    assert lines_wider_than_their_block(document) == []
    # The signatures are never split from each other across pages.
    signed = [p for p in document.pages if any("signatures" in t[5] for t in text_boxes(p))]
    assert len(signed) == 1


@pytest.mark.parametrize("paper", SHEETS)
@pytest.mark.parametrize("case", [c for c in CASES if c != "no-address"])
def test_the_address_shows_in_the_envelope_window_and_nothing_else_does(documents, case, paper):
    data, document = documents[case, paper]
    first = document.pages[0]
    texts = text_boxes(first)
    address = [t for t in texts if "window-address" in t[5]]
    assert " ".join(t[0] for t in address).split() == " ".join(data.address).split()
    window = WINDOWS[paper]
    for text in address:
        assert inside(text[1:5], window), (text[0], text[1:5], window)
    block = block_of(first, "window-address")
    clear_zone = (block[0] - CLEAR, block[1] - CLEAR, block[2] + CLEAR, block[3] + CLEAR)
    others = [t for t in texts if "window-address" not in t[5]]
    assert [t[0] for t in others if overlaps(t[1:5], clear_zone)] == []
    if paper == "a4":
        # DIN 5008's address field holds the address alone.
        assert [t[0] for t in others if overlaps(t[1:5], window)] == []
    # Under the address, the letter's text starts below the window; the title and details
    # run beside it.
    under = [t for t in others if "letterhead" not in t[5] and t[1] < block[2] + CLEAR]
    assert under and min(t[2] for t in under) >= window[3]


def test_no_address_no_block(documents):
    for paper in SHEETS:
        _data, document = documents["no-address", paper]
        texts = text_boxes(document.pages[0])
        assert not [t for t in texts if "window-address" in t[5]]


def test_the_paper_is_part_of_the_bytes(renderer):
    a4 = renderer.render_letter(sample_letter(paper="a4"))
    letter = renderer.render_letter(sample_letter(paper="letter"))
    assert a4 != letter
    assert renderer.render_letter(sample_letter(paper="letter")) == letter
    with pytest.raises(ValueError):
        sample_letter(paper="b5")
