"""pydyf compresses each stream once per write: same bytes, half the deflating."""

from __future__ import annotations

import gc
import tomllib
import zlib
from io import BytesIO
from pathlib import Path

import pydyf
import pypdf
import pytest
import weasyprint

from ceroc_donations.rendering import pdfwrite
from ceroc_donations.rendering.pdf import LetterRenderer, collecting_between_documents
from tests.rendering_support import font_programs, sample_letter, sample_report, sample_statement

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


def test_patch_is_of_the_pinned_pydyf():
    assert pydyf.__version__ == pdfwrite.PYDYF_VERSION
    assert pdfwrite.source_digests() == pdfwrite.PATCHED
    assert pdfwrite.installed()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"pydyf=={pdfwrite.PYDYF_VERSION}" in project["dependencies"]


def test_install_refuses_another_pydyf(monkeypatch):
    pdfwrite.uninstall()
    try:
        monkeypatch.setattr(pydyf, "__version__", "0.14.0")
        with pytest.raises(RuntimeError, match="pydyf 0.13.0, found 0.14.0"):
            pdfwrite.install()
        assert not pdfwrite.installed()
    finally:
        monkeypatch.undo()
        pdfwrite.install()


@pytest.fixture
def level_9(monkeypatch):
    """pydyf's own compression level: the patch must then change no byte."""
    monkeypatch.setattr(pdfwrite, "COMPRESSION_LEVEL", 9)


def write_both(document, options) -> tuple[bytes, bytes, int, int]:
    """The document written without and with the patch, and the deflates each took."""
    calls = [0]
    real = zlib.compressobj

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    results = []
    for switch in (pdfwrite.uninstall, pdfwrite.install):
        switch()
        calls[0] = 0
        zlib.compressobj = counting
        try:
            results.append((document.write_pdf(**options), calls[0]))
        finally:
            zlib.compressobj = real
    pdfwrite.install()
    (plain, plain_calls), (patched, patched_calls) = results
    return plain, patched, plain_calls, patched_calls


@pytest.mark.parametrize("kind", ["thank_you", "statement"])
def test_letters_are_byte_identical_and_deflated_once(renderer, kind, level_9):
    data = sample_letter() if kind == "thank_you" else sample_statement()
    document = renderer.letter_document(data, kind=kind)
    plain, patched, plain_calls, patched_calls = write_both(document, renderer.options)
    assert plain == patched
    assert "/ID" in pypdf.PdfReader(BytesIO(patched)).trailer  # PDF/A's file identifier
    # Every stream but the last (the cross-reference stream) was deflated twice.
    assert patched_calls > 3
    assert plain_calls == 2 * patched_calls - 1


def test_report_is_byte_identical(level_9):
    report = LetterRenderer(stylesheet="report.css")
    from ceroc_donations.rendering.report import render_report_html

    html = render_report_html(sample_report(), "km", letters_dir=report.letters_dir)
    plain, patched, _calls, _patched_calls = write_both(report.render_document(html),
                                                        report.options)  # fmt: skip
    assert plain == patched


def test_level_6_writes_the_same_content(renderer):
    """At our level the PDF differs only in how its streams are deflated."""
    document = renderer.letter_document(sample_statement(), kind="statement")
    plain, patched, _calls, _patched_calls = write_both(document, renderer.options)
    assert plain != patched and len(patched) < len(plain) * 1.1
    pages = [pypdf.PdfReader(BytesIO(pdf)).pages for pdf in (plain, patched)]
    assert [p.get_contents().get_data() for p in pages[0]] == [
        p.get_contents().get_data() for p in pages[1]
    ]
    fonts = [font_programs(pdf) for pdf in (plain, patched)]
    assert {name: program for name, (program, _) in fonts[0].items()} == {
        name: program for name, (program, _) in fonts[1].items()
    }


def test_nothing_is_cached_outside_a_write():
    stream = pydyf.Stream([b"BT", b"ET"], compress=True)
    first = stream.data
    stream.stream.append(b"q Q")
    assert stream.data != first  # changed content, new bytes
    assert getattr(pdfwrite._local, "cache", None) is None


def test_same_letter_same_bytes(renderer):
    """The archive copy is reproducible: the ICC profile is embedded as shipped (LittleCMS
    would stamp the time of writing into it) and nothing else depends on the clock."""
    pdf = renderer.render_letter(sample_letter())
    reader = pypdf.PdfReader(BytesIO(pdf))
    intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
    icc = intent["/DestOutputProfile"].get_object().get_data()
    shipped = (Path(weasyprint.__file__).parent / "pdf" / "sRGB2014.icc").read_bytes()
    assert icc == shipped


def test_no_collection_during_a_document(renderer, monkeypatch):
    """The collector is off while a document is laid out and written, on again after."""
    seen = []
    real_write = renderer.write.__func__

    def spying_write(self, document):
        seen.append(gc.isenabled())
        return real_write(self, document)

    monkeypatch.setattr(LetterRenderer, "write", spying_write)
    assert gc.isenabled()
    renderer.render_letter(sample_letter())
    assert seen == [False]
    assert gc.isenabled()
    with collecting_between_documents():
        assert not gc.isenabled()
        with collecting_between_documents():  # nested: still off, and left off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
