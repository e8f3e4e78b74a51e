"""WeasyPrint's shortcuts (rendering/fastpaths.py): every value and every byte the same."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
import weasyprint
from weasyprint import HTML
from weasyprint.pdf import fonts as pdf_fonts

from ceroc_donations.rendering import fastpaths, pdfwrite
from ceroc_donations.rendering.pdf import LetterRenderer
from tests.rendering_support import sample_letter, sample_report, sample_statement

ROOT = Path(__file__).resolve().parents[1]

#: Everything the shortcuts set apart: logical properties, var(), math, inherit/initial,
#: text decorations, named pages, floats, positions, tables with collapsed borders,
#: box-sizing, percentages against auto heights, anonymous boxes.
STRESS = """<!DOCTYPE html>
<html lang="en"><head><style>
  @page { size: A5; margin: 10% 5mm; }
  @page wide { size: A5 landscape; }
  :root { --gap: 3mm; --ink: #123; }
  body { font: 11pt/1.4 "CEROC Serif", "CEROC Khmer"; color: var(--ink); margin: 0 1em; }
  .box { margin-inline-start: var(--gap); padding-block: calc(2mm + 1%); width: 60%;
         min-width: 10mm; max-width: calc(100% - 4mm); box-sizing: border-box;
         border: 2px solid; text-decoration: underline; }
  .box span { text-decoration-color: red; font-weight: inherit; color: initial; }
  .float { float: right; width: 25%; height: 20%; padding: 5%; margin: 1% 2% 3% 4%; }
  .abs { position: absolute; top: 10%; left: 5mm; min-height: 50%; }
  .wide { page: wide; display: block; }
  table { border-collapse: collapse; width: 100%; }
  td { border: 1px solid; padding: 1mm 2%; width: 30%; }
  .bb { box-sizing: padding-box; padding: 2%; height: 10mm; max-height: 50%; }
  .k { font-family: "CEROC Khmer", "CEROC Serif"; letter-spacing: 0.02em; }
</style></head><body>
  <div class="box">Text <span>under <b>lined</b> ស្ដីពីការទទួលបានវិភាគទាន</span> more</div>
  <div class="float">float</div>
  <div class="abs">absolute</div>
  <p class="bb">Loose text, <em>anonymous boxes</em> around <div>a block</div> here.</p>
  <table><tr><td>១២៣</td><td>US$400.00</td></tr><tr><td colspan="2">both</td></tr></table>
  <p dir="rtl" lang="ar">مرحبا <span lang="km">សួស្ដី</span> hello</p>
  <p style="font-language-override: 'KHM'">override <u>underlined</u> <s>struck</s></p>
  <section class="wide"><p class="k">ពលរដ្ឋខ្មែរនៅក្រៅប្រទេស</p>
    <ul><li>one</li><li>two</li></ul></section>
</body></html>"""


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


@pytest.fixture
def both():
    """Run a callable without, then with the shortcuts (and always put them back)."""

    def run(make):
        fastpaths.uninstall()
        try:
            plain = make()
        finally:
            fastpaths.install()
        return plain, make()

    return run


def test_shortcuts_are_of_the_pinned_weasyprint():
    assert weasyprint.__version__ == fastpaths.WEASYPRINT_VERSION
    assert fastpaths.source_digests() == fastpaths.PATCHED
    assert fastpaths.installed()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"weasyprint=={fastpaths.WEASYPRINT_VERSION}" in project["dependencies"]


def test_install_refuses_another_weasyprint(monkeypatch):
    fastpaths.uninstall()
    try:
        monkeypatch.setattr(weasyprint, "__version__", "71.0")
        with pytest.raises(RuntimeError, match="WeasyPrint 70.0, found 71.0"):
            fastpaths.install()
        assert not fastpaths.installed()
    finally:
        monkeypatch.undo()
        fastpaths.install()


def test_uninstall_gives_weasyprint_its_own_functions():
    from weasyprint.layout import block, percent

    fastpaths.uninstall()
    try:
        assert block.resolve_percentages is percent.resolve_percentages
        assert block.resolve_percentages.__module__ == "weasyprint.layout.percent"
        assert pdf_fonts.Font._harfbuzz_subset.__module__ == "weasyprint.pdf.fonts"
    finally:
        fastpaths.install()
    assert block.resolve_percentages is fastpaths._resolve_percentages


USED = ("margin_top", "margin_right", "margin_bottom", "margin_left", "padding_top",
        "padding_right", "padding_bottom", "padding_left", "width", "height", "min_width",
        "max_width", "min_height", "max_height", "border_top_width", "border_right_width",
        "border_bottom_width", "border_left_width", "position_x", "position_y")  # fmt: skip


def laid_out(renderer, html: str) -> list[tuple]:
    """Every box of every page: its type, computed style and used lengths."""
    document = HTML(string=html, base_url=renderer.base_url,
                    url_fetcher=renderer.fetcher).render(
        font_config=renderer.font_config, stylesheets=renderer.stylesheets[:1])  # fmt: skip
    found = []
    for page in document.pages:
        for box in page._page_box.descendants(placeholders=True):
            style = {key: repr(value) for key, value in box.style.items()}
            used = {name: getattr(box, name, None) for name in USED}
            found.append((type(box).__name__, style, used))
    return found


def test_every_computed_and_used_value_is_the_same(renderer, both):
    plain, fast = both(lambda: laid_out(renderer, STRESS))
    assert len(plain) > 40
    assert [box[0] for box in plain] == [box[0] for box in fast]
    for before, after in zip(plain, fast, strict=True):
        assert before == after


def test_stress_document_is_byte_identical(renderer, both):
    """Directions, languages, a language override and text decorations: Pango contexts
    kept per font map, direction and language lay text out as new ones do."""
    plain, fast = both(lambda: renderer.to_pdf(STRESS))
    assert plain == fast


@pytest.mark.parametrize("kind", ["thank_you", "bilingual", "statement", "report"])
def test_documents_are_byte_identical(renderer, both, kind):
    if kind == "report":
        from ceroc_donations.rendering.report import render_report_html

        report = LetterRenderer(stylesheet="report.css")
        html = render_report_html(sample_report(), "km", letters_dir=report.letters_dir)
        plain, fast = both(lambda: report.to_pdf(html))
    else:
        data = {
            "thank_you": sample_letter(language="km"),
            "bilingual": sample_letter(),
            "statement": sample_statement(),
        }[kind]
        letter_kind = "statement" if kind == "statement" else "thank_you"
        plain, fast = both(lambda: renderer.archived_letter(data, None, letter_kind))
    assert plain == fast


def subset_of(font, glyphs) -> bytes:
    """The font's subset for *glyphs*, leaving the font object as it was."""
    content = font.file_content
    font.file_content = font.ceroc_face_content  # the whole font, as loaded
    try:
        font.subset({glyph: "x" for glyph in glyphs}, hinting=False)
        return font.file_content
    finally:
        font.file_content = content


def letter_fonts(renderer) -> list:
    """The fonts a bilingual letter uses, as WeasyPrint loaded them (not yet subset)."""
    fonts = []
    real = pdf_fonts.Font.__init__

    def keep(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.loaded_content = self.file_content  # before it is subset
        fonts.append(self)

    pdf_fonts.Font.__init__ = keep
    try:
        renderer.letter_document(sample_letter()).write_pdf()
    finally:
        pdf_fonts.Font.__init__ = real
    return fonts


def test_subsets_are_harfbuzz_own(renderer):
    """Subsets from the preprocessed face, fresh or kept, are the bytes WeasyPrint's own
    subsetting makes, for every font of a letter and many glyph sets."""
    fonts = letter_fonts(renderer)
    assert {font.family for font in fonts} >= {"CEROC Khmer", "CEROC Serif", "CEROC Muol"}
    pick = random.Random(11)
    for font in fonts:
        count = pdf_fonts.harfbuzz.hb_face_get_glyph_count(font.hb_face)
        sets = [range(1, 40), [3], range(count - 5, count)]
        sets += [
            pick.sample(range(1, count), pick.randint(1, min(300, count - 1))) for _ in range(6)
        ]
        for glyphs in sets:
            fastpaths.uninstall()
            try:
                own = subset_of(font, glyphs)
            finally:
                fastpaths.install()
            first, again = subset_of(font, glyphs), subset_of(font, glyphs)
            assert own == first == again
            assert again is first  # kept, not made again
            assert own != font.file_content  # a subset indeed


def test_changed_font_is_subset_as_weasyprint_does(renderer, monkeypatch):
    """A font whose bytes changed after loading (a variable font instanced, emoji
    removed) goes WeasyPrint's own way, from its own face."""
    font = letter_fonts(renderer)[0]
    calls = []
    real = fastpaths._original_subset

    def spying(self, *args):
        calls.append(self.hb_face)
        return real(self, *args)

    monkeypatch.setattr(fastpaths, "_original_subset", spying)
    font.file_content = bytes(bytearray(font.ceroc_face_content))  # equal bytes, a copy
    font.subset({glyph: "x" for glyph in range(1, 30)}, hinting=False)
    assert calls == [font.hb_face]


def test_kept_subsets_are_deflated_once(renderer, monkeypatch):
    """Two letters with the same glyphs: the second one's font files are not deflated
    again, and its bytes are those of a process that keeps nothing."""
    data = sample_letter()
    renderer.archived_letter(data, None, "thank_you")
    deflated = []
    real = pdfwrite._deflate
    monkeypatch.setattr(pdfwrite, "_deflate", lambda stream: (deflated.append(stream),
                                                              real(stream))[1])  # fmt: skip
    kept = renderer.archived_letter(data, None, "thank_you")
    subsets = list(fastpaths._SUBSETS.values())
    assert deflated and subsets
    assert not any(stream is subset for stream in deflated for subset in subsets)
    monkeypatch.setattr(pdfwrite, "_DEFLATED_FROM", 10**12)
    fastpaths.uninstall()
    try:
        assert renderer.archived_letter(data, None, "thank_you") == kept
    finally:
        fastpaths.install()


def test_font_files_are_not_copied_for_every_letter(renderer):
    """The second letter's fonts hold the very bytes the first one's did."""
    first = {font.hash: font.loaded_content for font in letter_fonts(renderer)}
    again = {font.hash: font.loaded_content for font in letter_fonts(renderer)}
    assert first.keys() == again.keys()
    assert all(again[key] is first[key] for key in first)
    fastpaths.uninstall()
    try:
        own = {font.hash: font.loaded_content for font in letter_fonts(renderer)}
    finally:
        fastpaths.install()
    assert own == first
    assert not any(own[key] is first[key] for key in first)  # WeasyPrint's copies
