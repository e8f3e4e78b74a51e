"""SVG paths of straight lines drawn without re-parsing: the same calls, the same bytes."""

from __future__ import annotations

import re
import tomllib
from collections import deque
from pathlib import Path

import pytest
import segno
import weasyprint
import weasyprint.svg
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ceroc_donations.rendering import svgpath
from ceroc_donations.rendering.letter import Verification
from ceroc_donations.rendering.pdf import LetterRenderer
from ceroc_donations.rendering.qr import qr_svg
from tests.rendering_support import sample_letter

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def without_patch():
    """Run the body with WeasyPrint's own ``path``, then patch it again."""
    svgpath.uninstall()
    try:
        yield
    finally:
        svgpath.install()


# --- The patch is of the WeasyPrint we run on ---------------------------------------


def test_patch_is_of_the_pinned_weasyprint():
    """Fails when WeasyPrint is upgraded: check svgpath.py, then update the digests."""
    assert weasyprint.__version__ == svgpath.WEASYPRINT_VERSION == "70.0"
    assert svgpath.source_digests() == svgpath.PATCHED
    for name, function in svgpath._ORIGINALS.items():
        assert f"{function.__module__}.{function.__qualname__}" == name
    assert svgpath.installed()
    assert weasyprint.svg.TAGS["path"] is svgpath.path
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"weasyprint=={svgpath.WEASYPRINT_VERSION}" in project["dependencies"]


def test_install_refuses_another_weasyprint(monkeypatch):
    svgpath.uninstall()
    try:
        assert weasyprint.svg.TAGS["path"] is svgpath._original_path
        assert not svgpath.installed()
        monkeypatch.setattr(weasyprint, "__version__", "71.0")
        with pytest.raises(RuntimeError, match="WeasyPrint 70.0, found 71.0"):
            svgpath.install()
        assert not svgpath.installed()
        monkeypatch.setattr(weasyprint, "__version__", svgpath.WEASYPRINT_VERSION)
        monkeypatch.setattr(
            svgpath, "PATCHED", {**svgpath.PATCHED, "weasyprint.svg.utils.size": "0"}
        )
        with pytest.raises(RuntimeError, match=r"changed: weasyprint\.svg\.utils\.size"):
            svgpath.install()
        assert weasyprint.svg.TAGS["path"] is svgpath._original_path
    finally:
        monkeypatch.undo()
        svgpath.install()
    assert svgpath.installed()
    svgpath.install()  # idempotent
    assert svgpath.installed()


# --- Call for call what WeasyPrint draws ----------------------------------------------


class RecordingStream:
    """Records every drawing call with its operands (``repr`` tells 0 from 0.0 and -0.0)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def record(*args):
            self.calls.append((name, *args))

        return record


class FakeSVG:
    """What ``path`` uses of an ``SVG``: its stream and WeasyPrint's own ``point``."""

    inner_width = inner_height = 29.0
    inner_diagonal = 41.0
    point = weasyprint.svg.SVG.point

    def __init__(self):
        self.stream = RecordingStream()


class FakeNode:
    def __init__(self, d):
        self.attrib = {"d": d}
        self.vertices = deque()

    def get(self, key, default=None):
        return self.attrib.get(key, default)


def drawn(function, d: str, font_size: float = 12.0) -> tuple[str, str, str | None]:
    """The stream calls, the vertices left for markers and the error of drawing *d*."""
    svg, node = FakeSVG(), FakeNode(d)
    try:
        function(svg, node, font_size)
        error = None
    except Exception as exception:  # noqa: BLE001 - compared with WeasyPrint's own
        error = repr(exception)
    return repr(svg.stream.calls), repr(list(node.vertices)), error


def assert_same(d: str, *, fast: bool) -> None:
    assert (svgpath._commands(d) is not None) is fast, d
    theirs = drawn(svgpath._original_path, d)
    assert drawn(svgpath.path, d) == theirs, d
    if fast:
        assert theirs[2] is None, d


@st.composite
def numbers(draw) -> str:
    """Plain SVG numbers as people and programs write them: 7, -3, +2, 0.5, .25, 10.50, 007."""
    text = str(draw(st.integers(0, 5000)))
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=1, max_size=4))
        if text.startswith("0.") and draw(st.booleans()):
            text = text[1:]
    if draw(st.integers(0, 3)) == 0:
        text = "0" + text
    return draw(st.sampled_from(["", "", "", "-", "+"])) + text


SEPARATORS = [" ", " ", ",", ", ", " ,", "\n", "\t", "  ", ",,", " \r\n "]


@st.composite
def line_paths(draw) -> str:
    """A ``d`` of straight lines: any of M m L l H h V v Z z, arguments repeated or not,
    separators varied, numbers run together where the SVG grammar lets them (``1-2``,
    ``1.5.5``)."""
    out = []
    previous = None  # the last number written, while it may run into the next
    for _ in range(draw(st.integers(1, 25))):
        letter = draw(st.sampled_from("MmLlHhVvZz"))
        out.append(draw(st.sampled_from(["", "", *SEPARATORS])) + letter)
        arity = svgpath._ARITY[letter]
        previous = None
        for _ in range(arity * draw(st.integers(1, 3)) if arity else 0):
            number = draw(numbers())
            together = number[0] in "+-" or (previous and "." in previous and number[0] == ".")
            first = previous is None
            options = ["", *SEPARATORS] if first or together else SEPARATORS
            out.append(draw(st.sampled_from(options)) + number)
            previous = number
    out.append(draw(st.sampled_from(["", *SEPARATORS])))
    return "".join(out)


@settings(max_examples=1500, deadline=None)
@given(line_paths())
def test_line_paths_are_drawn_as_weasyprint_draws_them(d):
    assert_same(d, fast=True)


#: WeasyPrint 70 never returns from a ``z`` followed by anything but a command (``M0 0z1 2``).
HANGS_WEASYPRINT = re.compile(r"[zZ][ \t\n\r,]*[^achlmqstvzACHLMQSTVZ \t\n\r,]")


@st.composite
def near_misses(draw) -> str:
    """A line path with a few characters put in, taken out or changed."""
    d = draw(line_paths())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(d)))
        put = draw(st.sampled_from(["", *".+-0159 ,eEzZMhacq%x\x0c\xa0\u0663"]))
        d = d[:at] + put + d[at + draw(st.integers(0, 1)) :]
    return d


@settings(max_examples=2000, deadline=None)
@given(
    near_misses()
    | st.text("MmLlHhVvZz0123456789.+-, ", max_size=40)
    | st.text("MmLlHhVvZzCcSsQqTtAa0123456789.+-eE, \n\tx%", max_size=40)
)
def test_any_text_is_drawn_as_weasyprint_draws_it(d):
    """Near-miss strings (``1..5``, ``1.``, ``M1``, ``+-2``, ``1e2``, curves, units): the
    fast route takes only what it draws exactly as WeasyPrint, the rest goes to WeasyPrint."""
    assume(not HANGS_WEASYPRINT.search(d))
    theirs = drawn(svgpath._original_path, d)
    assert drawn(svgpath.path, d) == theirs


@pytest.mark.parametrize(
    "d",
    [
        "M0 0.5h7m1 0h1m-9 1h1z",
        "M 1,,2 3 4",
        "M1.5.5.5.5L-1-2-3-4",
        "m1-2h3v4-5H6V7l8 9 10 11z",
        "h5",
        "z",
        "M1 2zz",
        "M1 2zm3 4zl5 6z",
        "M0 0ZL1 1",
        "V3 4 5",
        "m0 0m1 1",
        "M-0 -0h-0",
        "M .5 -.5 h +.25",
        "M007 0010.500",
        "\n M1 2\tL3 4 \r\n",
    ],
)
def test_edge_cases_are_drawn_as_weasyprint_draws_them(d):
    assert_same(d, fast=True)


@pytest.mark.parametrize(
    "d",
    [
        "",  # nothing to draw: WeasyPrint moves to 0 0 only
        "   ",
        "M0 0a5 5 0 0 1 10 10",
        "M0 0A5 5 0 1 0 10 10z",
        "M0 0c1 2 3 4 5 6",
        "M0 0C1 2 3 4 5 6S7 8 9 10",
        "M0 0q1 2 3 4t5 6",
        "M0 0Q1 2 3 4T5 6",
        "M1e2 0h1",
        "M1E2 0",
        "M1 2h1e-1",
        "M1px 2",
        "M10% 2",
        "M1 2 3",  # a line short of its y: PointError, after the move
        "M1",
        "h",
        "L1 2 3 4 5",
        "1 2 M3 4",  # numbers before the first command are dropped by WeasyPrint
        "M1..5 2",
        "M1. 2",
        "M+-1 2",
        "M1 2 x",
        "M1_0 2",
        "M\u0663 2",  # a non-ASCII digit
        "Mnan 2",
        "garbage",
    ],
)
def test_other_strings_go_to_weasyprint(d, monkeypatch):
    calls = []
    original = svgpath._original_path

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(svgpath, "_original_path", counting)
    assert_same(d, fast=False)
    assert len(calls) == 2  # ours (to WeasyPrint's) and the reference drawing


def segno_paths() -> list[str]:
    """Every ``d`` segno draws for links, versions, error levels, borders and colours."""
    texts = [f"https://donations.example.org/v/{n:05d}-{(n * 7919) % 100000:05d}"
             for n in range(120)]  # fmt: skip
    texts += ["x", "HELLO WORLD", "1234567890" * 9, "ខ្មែរ", "https://ceroc.org/" + "a" * 300]
    codes = [segno.make(text, error="m", micro=False, boost_error=False) for text in texts]
    codes += [segno.make(texts[0], version=version, error=error)
              for version in (5, 10, 20, 40) for error in "lmqh"]  # fmt: skip
    codes += [segno.make_micro(text) for text in ("1", "12345", "HELLO", "abc")]
    paths = []
    for n, code in enumerate(codes):
        options = [{"border": 0, "omitsize": True}, {"border": 4, "scale": 2.5}]
        if n % 10 == 0:  # a background (h, v and z) and one path per colour
            options.append({"light": "#fff", "border": 2})
            options.append({"light": "#fff", "finder_dark": "#123", "data_dark": "#456"})
        for option in options:
            paths += re.findall(r' d="([^"]*)"', code.svg_inline(**option))
    return paths


def test_segno_qr_paths_are_drawn_as_weasyprint_draws_them():
    paths = segno_paths()
    assert len(paths) > 300
    assert any("v" in d and "z" in d for d in paths)  # light backgrounds
    for d in paths:
        assert_same(d, fast=True)


# --- Byte for byte in PDFs --------------------------------------------------------------


def written(html: str) -> bytes:
    return weasyprint.HTML(string=html).write_pdf()


def test_qr_documents_are_byte_identical():
    documents = [
        f'<body style="margin:0"><div style="width:20mm">{qr_svg(url)}</div>'
        f"{segno.make(url).svg_inline(light='#fff', border=2)}</body>"
        for url in (f"https://donations.example.org/v/{n:05d}-QR" for n in range(12))
    ]
    patched = [written(html) for html in documents]
    svgpath.uninstall()
    try:
        theirs = [written(html) for html in documents]
    finally:
        svgpath.install()
    assert patched == theirs
    assert len(set(patched)) == len(documents)


def test_letter_is_byte_identical():
    """A thank-you letter with its verification QR code: the same PDF bytes either way."""
    renderer = LetterRenderer()
    url = "https://donations.example.org/v/PPW8C-W99EM"
    data = sample_letter(verification=Verification("PPW8C-W99EM", url))
    drawn_paths = []
    original = svgpath._original_path

    def spying(svg, node, font_size):
        drawn_paths.append(node.get("d"))
        return original(svg, node, font_size)

    patched = renderer.render_letter(data)
    svgpath.uninstall()
    try:
        theirs = renderer.render_letter(data)
        weasyprint.svg.TAGS["path"] = spying
        spied = renderer.render_letter(data)
    finally:
        weasyprint.svg.TAGS["path"] = original
        svgpath.install()
    assert patched == theirs == spied
    # The letter does draw its QR code through ``path``, on the fast route.
    assert drawn_paths and all(svgpath._commands(d) is not None for d in drawn_paths)
    assert str(qr_svg(url)).count(" d=") == len(drawn_paths)
