"""The PDF itself: Khmer shaping, fonts, layout, PDF/A and metadata."""

from __future__ import annotations

import logging
import subprocess
from io import BytesIO

import pypdf
import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from markupsafe import escape

from ceroc_donations.rendering import (
    FONT_FILES,
    LetterRenderer,
    LetterTexts,
    letter_metadata,
    render_html,
)
from ceroc_donations.rendering.khmer import ZWSP, insert_word_breaks
from tests.rendering_support import font_programs, glyph_runs, sample_letter, sample_statement

#: Coeng subscripts, the ro subscript, split vowels, Khmer digits.
PROBES = [
    "ស្រ្តី", "ស្ត្រី", "ខ្មែរ", "ប្រជាធិបតេយ្យ", "អ្នកស្រី", "ជ្រាលជ្រៅ", "ក្រុម", "ក្សត្រ",
    "ព្រះរាជាណាចក្រ", "ដើម្បី", "ឡើង", "កោះ", "ពោធិ៍", "រៀន", "ធៀប", "ជឿ", "រឿង", "ឈ្មោះ",
    "ញ្ញ", "រដ្ឋ", "ណ្ណ", "ថ្ងៃ", "ស្មោះស្ម័គ្រ", "វិច្ឆិកា", "០១២៣៤៥៦៧៨៩", "១២", "ៗ", "។",
]  # fmt: skip
FONT_NAMES = {"CEROC-Khmer": "khmer", "CEROC-Khmer-Bold": "khmer_bold", "CEROC-Serif": "serif",
              "CEROC-Serif-Bold": "serif_bold", "CEROC-Muol": "muol"}  # fmt: skip


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


@pytest.fixture(scope="module")
def hb_fonts():
    return {key: hb.Font(hb.Face(hb.Blob.from_file_path(str(path))))
            for key, path in FONT_FILES.items()}  # fmt: skip


def shape(font: hb.Font, text: str) -> list[int]:
    """HarfBuzz glyph ids for *text*, shaped word by word as Pango does across U+200B."""
    glyphs = []
    for word in text.split(ZWSP):
        if not word:
            continue
        buffer = hb.Buffer()
        buffer.add_str(word)
        buffer.guess_segment_properties()
        buffer.language = "km"
        hb.shape(font, buffer)
        glyphs += [info.codepoint for info in buffer.glyph_infos]
    return glyphs


def probe_html(weight: str) -> str:
    rows = "".join(f'<p lang="km" style="font-weight:{weight}">{escape(p)}</p>' for p in PROBES)
    return f'<!DOCTYPE html><html lang="km"><body>{rows}</body></html>'


@pytest.mark.parametrize(
    ("weight", "font_name"), [("normal", "CEROC-Khmer"), ("bold", "CEROC-Khmer-Bold")]
)
def test_khmer_glyphs_are_harfbuzz_glyphs(renderer, hb_fonts, weight, font_name):
    pdf = renderer.to_pdf(probe_html(weight), title="probe")
    runs = glyph_runs(pdf)
    khmer_fonts = {name for name in runs if "Khmer" in name or "Muol" in name}
    assert khmer_fonts == {font_name}, "every probe must be set in the one Khmer font"
    expected = [gid for probe in PROBES for gid in shape(hb_fonts[FONT_NAMES[font_name]], probe)]
    assert runs[font_name] == expected


def test_embedded_subset_keeps_glyph_ids_and_outlines(renderer):
    pdf = renderer.to_pdf(probe_html("normal"), title="probe")
    program, descendant = font_programs(pdf)["CEROC-Khmer"]
    assert descendant["/CIDToGIDMap"] == "/Identity"
    with TTFont(BytesIO(program)) as embedded, TTFont(str(FONT_FILES["khmer"])) as original:
        embedded_order, original_order = embedded.getGlyphOrder(), original.getGlyphOrder()
        for gid in set(glyph_runs(pdf)["CEROC-Khmer"]):
            mine = embedded["glyf"][embedded_order[gid]].getCoordinates(embedded["glyf"])[0]
            theirs = original["glyf"][original_order[gid]].getCoordinates(original["glyf"])[0]
            assert list(mine) == list(theirs), f"glyph {gid} changed by subsetting"


def letter_pdfs(renderer):
    texts = LetterTexts.default()
    for kind, data in [
        ("thank_you", sample_letter()),
        ("thank_you", sample_letter(language="km")),
        ("thank_you", sample_letter(language="en", not_tax_receipt=False)),
        ("statement", sample_statement()),
    ]:
        html = render_html(data, texts, kind)
        yield data, html, renderer.to_pdf(html, **letter_metadata(data, texts, kind))


def test_letters_have_no_missing_glyphs_nor_dotted_circles(renderer, hb_fonts, caplog):
    caplog.set_level(logging.WARNING, logger="weasyprint")
    for _data, _html, pdf in letter_pdfs(renderer):
        for name, glyphs in glyph_runs(pdf).items():
            path = FONT_FILES[FONT_NAMES[name]]
            with TTFont(str(path), lazy=True) as font:
                dotted_gid = font.getGlyphID(font.getBestCmap()[0x25CC])
                count = font["maxp"].numGlyphs
            assert 0 not in glyphs, f".notdef in {name}"
            assert all(gid < count for gid in glyphs), f"missing glyph in {name}"
            assert dotted_gid not in glyphs, f"dotted circle in {name}"
    assert not [r for r in caplog.records if "notdef" in r.getMessage()]


def test_letterhead_shaped_in_muol(renderer, hb_fonts):
    texts = LetterTexts.default()
    html = render_html(sample_letter(language="en"), texts)
    runs = glyph_runs(renderer.to_pdf(html))
    assert runs["CEROC-Muol"] == shape(hb_fonts["muol"], insert_word_breaks(texts.org_name_km))


@pytest.mark.tools("pdffonts")
def test_every_font_embedded(renderer, tmp_path):
    for _data, _html, pdf in letter_pdfs(renderer):
        path = tmp_path / "letter.pdf"
        path.write_bytes(pdf)
        lines = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                               text=True).stdout.splitlines()[2:]  # fmt: skip
        assert lines
        for line in lines:
            name, emb = line.split()[0], line.split()[-5]
            assert emb == "yes", line
            assert name.split("+")[-1] in FONT_NAMES, f"unexpected font {name}"


def overflowing_lines(document):
    """Line boxes whose content reaches past the right edge of their block."""
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
                    bad.append((child.text, child.position_x + child.width - right))
            return
        if isinstance(box, boxes.BlockContainerBox):
            block = box
        for child in getattr(box, "children", []):
            walk(child, block)

    for page in document.pages:
        walk(page._page_box, page._page_box)
    return bad


def test_no_line_wider_than_its_box(renderer):
    long_name = "Khmer-Youth-Movement-of-New-Market-Ontario-" * 4
    long_km = "ចលនាយុវជនខ្មែរញូម៉ាឃីតអុនតារីយ៉ូ" * 6
    cases = [
        sample_letter(),
        sample_letter(donors=((long_name, long_km),), reference="X" * 120, occasion=long_name),
        sample_statement(),
    ]
    for data in cases:
        kind = "statement" if data.gifts else "thank_you"
        document = renderer.render_document(render_html(data, kind=kind))
        assert overflowing_lines(document) == []
        assert len(document.pages) <= 2


def test_default_letter_fits_one_page(renderer):
    assert len(renderer.letter_document(sample_letter()).pages) == 1
    assert len(renderer.letter_document(sample_statement(), kind="statement").pages) == 1


@pytest.mark.tools("qpdf")
def test_pdfa_checks_and_metadata(renderer, tmp_path):
    for data, _html, pdf in letter_pdfs(renderer):
        path = tmp_path / "letter.pdf"
        path.write_bytes(pdf)
        subprocess.run(["qpdf", "--check", str(path)], check=True, capture_output=True)
        reader = pypdf.PdfReader(BytesIO(pdf))
        info = reader.metadata
        assert info.title.startswith("CEROC ")
        assert info.author == "Commission for Election Rights of Overseas Cambodians (CEROC)"
        assert data.reference in info.subject
        root = reader.trailer["/Root"]
        assert root["/Lang"] == ("en" if data.language == "en" else "km")
        xmp = root["/Metadata"].get_object().get_data()
        assert b"<pdfaid:part>3</pdfaid:part>" in xmp or b'pdfaid:part="3"' in xmp
        assert "/OutputIntents" in root


def test_text_content(renderer):
    for data, _html, pdf in letter_pdfs(renderer):
        text = "".join(p.extract_text() for p in pypdf.PdfReader(BytesIO(pdf)).pages)
        text = text.replace(ZWSP, "")
        if data.language != "km":
            assert "Commission for Election Rights of Overseas Cambodians" in text
        if data.language == "en":
            assert "Thank you letter 12" in text and "$400.00" in text
            assert "not a tax receipt" not in text
        if data.language == "km":
            assert "Thank you letter" not in text and "not a tax receipt" not in text
