"""Khmer text read back out of our PDFs: /ActualText spans, tags and /Lang."""

from __future__ import annotations

import ast
import hashlib
import inspect
import shutil
import subprocess
import tomllib
from io import BytesIO
from pathlib import Path

import pypdf
import pytest
import weasyprint
import weasyprint.draw.text
import weasyprint.pdf.tags

from ceroc_donations.rendering import LetterTexts, actualtext, letter_metadata, render_html
from ceroc_donations.rendering.khmer import ZWSP, khmer_words
from ceroc_donations.rendering.pdf import LetterRenderer
from ceroc_donations.rendering.report import render_report_html, report_metadata
from tests.rendering_support import glyph_runs, sample_letter, sample_report, sample_statement

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdfinfo")), reason="poppler-utils missing"
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


@pytest.fixture(scope="module")
def report():
    return LetterRenderer(stylesheet="report.css")


def documents(renderer, report):
    """``(name, html, html → PDF)`` for a letter, a Khmer letter, a statement, both reports."""
    texts = LetterTexts.default()
    for name, data, kind in (
        ("letter", sample_letter(), "thank_you"),
        ("Khmer letter", sample_letter(language="km"), "thank_you"),
        ("statement", sample_statement(), "statement"),
    ):
        meta = letter_metadata(data, texts, kind)
        yield name, render_html(data, texts, kind), lambda h, m=meta: renderer.to_pdf(h, **m)
    data = sample_report()
    for lang in ("km", "en"):
        meta = report_metadata(data, lang)
        html = render_report_html(data, lang, letters_dir=report.letters_dir)
        yield f"{lang} report", html, lambda h, m=meta: report.to_pdf(h, **m)


@pytest.fixture
def without_actualtext():
    """Run the body with WeasyPrint's own text drawing, then patch it again."""
    actualtext.uninstall()
    try:
        yield
    finally:
        actualtext.install()


def contents(pdf: bytes) -> bytes:
    """The pages' content streams, decompressed."""
    return b"".join(page.get_contents().get_data() for page in pypdf.PdfReader(BytesIO(pdf)).pages)


def pdftotext(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, check=True,
                         capture_output=True).stdout  # fmt: skip
    return out.decode().replace(ZWSP, "")


# --- The patch is of the WeasyPrint we run on ---------------------------------------


def test_patch_is_of_the_pinned_weasyprint():
    """Fails when WeasyPrint is upgraded: port actualtext.py, then update the digests."""
    assert weasyprint.__version__ == actualtext.WEASYPRINT_VERSION == "70.0"
    originals = {
        "weasyprint.draw.text.draw_first_line": actualtext._original_draw_first_line,
        "weasyprint.pdf.tags._build_box_tree": actualtext._original_build_box_tree,
    }
    for name, function in originals.items():
        assert f"{function.__module__}.{function.__name__}" == name
        assert actualtext.source_digest(function) == actualtext.PATCHED[name], name
    assert actualtext.installed()
    assert weasyprint.draw.text.draw_first_line is actualtext.draw_first_line
    assert weasyprint.pdf.tags._build_box_tree is actualtext._build_box_tree


def test_pyproject_pins_weasyprint_to_the_patched_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [dep for dep in project["dependencies"] if dep.lower().startswith("weasyprint")]
    assert pins == [f"weasyprint=={actualtext.WEASYPRINT_VERSION}"]


def test_install_refuses_another_weasyprint(monkeypatch):
    actualtext.uninstall()
    try:
        monkeypatch.setattr(weasyprint, "__version__", "71.0")
        with pytest.raises(RuntimeError, match="port the patch"):
            actualtext.install()
        assert not actualtext.installed()
        monkeypatch.setattr(
            actualtext, "PATCHED", {**actualtext.PATCHED, next(iter(actualtext.PATCHED)): "0"}
        )
        monkeypatch.setattr(weasyprint, "__version__", actualtext.WEASYPRINT_VERSION)
        with pytest.raises(RuntimeError, match="draw_first_line"):
            actualtext.install()
    finally:
        monkeypatch.undo()
        actualtext.install()
    assert actualtext.installed()


def test_copied_function_differs_only_by_our_lines():
    """Our draw_first_line is WeasyPrint's plus the blocks between ``# ceroc:`` marks."""
    ours, kept = inspect.getsource(actualtext.draw_first_line).splitlines(), []
    inside = False
    for line in ours:
        if line.strip().startswith("# ceroc:"):
            inside = line.strip() != "# ceroc: end"
            continue
        if not inside:
            kept.append(line)
    theirs = inspect.getsource(actualtext._original_draw_first_line)
    assert ast.dump(ast.parse("\n".join(kept))) == ast.dump(ast.parse(theirs))


# --- Glyphs unchanged, text true ----------------------------------------------------


def test_glyphs_drawn_are_unchanged(renderer, report):
    """Same glyph ids in the same order, and the same pixels, with and without spans."""
    with_spans = [(name, to_pdf(html)) for name, html, to_pdf in documents(renderer, report)]
    actualtext.uninstall()
    try:
        without = [to_pdf(html) for _name, html, to_pdf in documents(renderer, report)]
    finally:
        actualtext.install()
    for (name, pdf), bare in zip(with_spans, without, strict=True):
        assert glyph_runs(pdf) == glyph_runs(bare), name
        assert b"/ActualText" in contents(pdf) and b"/ActualText" not in contents(bare), name
    if shutil.which("pdftoppm"):
        for (name, pdf), bare in zip(with_spans[:3], without[:3], strict=True):
            pictures = [
                subprocess.run(
                    ["pdftoppm", "-r", "60", "-gray", "-"],
                    input=doc,
                    check=True,
                    capture_output=True,
                ).stdout  # fmt: skip
                for doc in (pdf, bare)
            ]
            assert hashlib.sha256(pictures[0]).digest() == hashlib.sha256(pictures[1]).digest(), (
                name
            )


@needs_poppler
def test_every_khmer_word_is_found_by_pdftotext(renderer, report):
    for name, html, to_pdf in documents(renderer, report):
        words = khmer_words(html)
        assert len(words) > 5, name
        text = pdftotext(to_pdf(html))
        missing = [word for word in words if word not in text]
        assert not missing, f"{name}: {len(missing)} of {len(words)} not found: {missing[:10]}"


@needs_poppler
def test_weasyprint_alone_scrambles_khmer(renderer, without_actualtext):
    """The measurement is real: without the spans words go missing (លេខ reads as លខ)."""
    data, texts = sample_letter(), LetterTexts.default()
    html = render_html(data, texts)
    text = pdftotext(renderer.to_pdf(html, **letter_metadata(data, texts, "thank_you")))
    words = khmer_words(html)
    missing = [word for word in words if word not in text]
    assert len(missing) > len(words) // 4
    assert "លេខ" in missing


@needs_poppler
def test_khmer_words_copy_whole(renderer):
    data, texts = sample_letter(), LetterTexts.default()
    text = pdftotext(renderer.letter_document(data, texts).write_pdf())
    for word in ("ពលរដ្ឋខ្មែរ", "ក្រៅប្រទេស", "លេខ", "យើងខ្ញុំ", "ជ្រាលជ្រៅ", "ប្រទេស"):
        assert word in text
    assert "ថ្ងៃទី២៧ ខែវិច្ឆិកា ឆ្នាំ២០២៦" in text


def test_pypdf_reads_the_english(renderer):
    """pypdf ignores /ActualText (its Khmer is measured in bench/khmer_text.py); the
    English half must still extract exactly."""
    data, texts = sample_letter(), LetterTexts.default()
    pdf = renderer.to_pdf(render_html(data, texts), **letter_metadata(data, texts, "thank_you"))
    text = "".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(pdf)).pages)
    assert "Commission for Election Rights of Overseas Cambodians" in text


def test_khmer_words_are_icu_words():
    html = '<html><head><title>លិខិត</title></head><body><p lang="km">សូមថ្លែងអំណរគុណ</p>'
    html += "<p>Dear friends</p><p>យ៉ាង\u200bជ្រាលជ្រៅ។</p></body></html>"
    assert khmer_words(html) == ["សូម", "ថ្លែងអំណរគុណ", "យ៉ាង", "ជ្រាលជ្រៅ។"]


# --- Tags and languages -------------------------------------------------------------


def structure_langs(pdf: bytes) -> dict[str, set[str]]:
    """Structure type → the /Lang values set on elements of that type."""
    reader = pypdf.PdfReader(BytesIO(pdf))
    found: dict[str, set[str]] = {}
    stack = [reader.trailer["/Root"]["/StructTreeRoot"]]
    while stack:
        element = stack.pop().get_object()
        if isinstance(element, dict):
            if "/Lang" in element:
                found.setdefault(str(element["/S"]), set()).add(str(element["/Lang"]))
            kids = element.get("/K")
            if kids is not None:
                kids = kids.get_object()
                stack.extend(kids if isinstance(kids, list) else [kids])
    return found


@needs_poppler
def test_pdfs_are_tagged_with_languages(renderer, report):
    for name, html, to_pdf in documents(renderer, report):
        pdf = to_pdf(html)
        info = subprocess.run(["pdfinfo", "-"], input=pdf, check=True,
                              capture_output=True).stdout.decode()  # fmt: skip
        assert "Tagged:          yes" in info, name
        reader = pypdf.PdfReader(BytesIO(pdf))
        root = reader.trailer["/Root"]
        document_lang = str(root["/Lang"])
        xmp = root["/Metadata"].get_object().get_data()
        assert b'pdfaid:part="3" pdfaid:conformance="A"' in xmp, name
        langs = structure_langs(pdf)
        other = {"km": "en", "en": "km"}[document_lang]
        if name in ("letter", "statement", "km report", "en report"):
            # The other language's parts say so; nothing repeats the document's own.
            assert {other} == set().union(*langs.values()), (name, langs)
            assert "/P" in langs, name
        else:  # the Khmer letter has only its English letterhead line
            assert set().union(*langs.values()) <= {other}, (name, langs)
