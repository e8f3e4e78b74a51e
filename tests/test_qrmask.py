"""segno chooses a QR code's mask with integer operations: the same mask, the same matrix."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from segno import encoder

from ceroc_donations.rendering import qrmask
from ceroc_donations.rendering.qr import ERROR_LEVEL, qr_svg

ROOT = Path(__file__).resolve().parents[1]
URLS = [
    "https://ceroc.example.org/v/ABCD2345EF",
    "https://donations.example.org/v/7KQ2MZ9XWP",
    "https://ceroc.example.org/v/ZZZZZZZZZZ",
    "https://ceroc.example.org/v/2222222222",
]
KHMER = st.characters(min_codepoint=0x1780, max_codepoint=0x17FF)
TEXTS = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=300),
    st.text("0123456789", min_size=1, max_size=300),
    st.text(KHMER, min_size=1, max_size=300),
    st.text(
        st.one_of(KHMER, st.characters(min_codepoint=0x20, max_codepoint=0x7E), st.characters()),
        min_size=1,
        max_size=300,
    ),
)


def test_patch_is_of_the_pinned_segno():
    assert segno.__version__ == qrmask.SEGNO_VERSION
    assert qrmask.source_digests() == qrmask.PATCHED
    assert qrmask.installed()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"segno=={qrmask.SEGNO_VERSION}" in project["dependencies"]


def test_install_refuses_another_segno(monkeypatch):
    qrmask.uninstall()
    try:
        monkeypatch.setattr(segno, "__version__", "1.6.7")
        with pytest.raises(RuntimeError, match="segno 1.6.6, found 1.6.7"):
            qrmask.install()
        assert not qrmask.installed()
        monkeypatch.undo()
        monkeypatch.setitem(qrmask.PATCHED, "segno.encoder.mask_scores", "0" * 64)
        with pytest.raises(RuntimeError, match=r"changed: segno\.encoder\.mask_scores"):
            qrmask.install()
        assert not qrmask.installed()
    finally:
        monkeypatch.undo()
        qrmask.install()
    assert qrmask.installed()


def unmasked_matrix(content, **options) -> tuple[tuple[bytearray, ...], int]:
    """The matrix segno hands to ``find_and_apply_best_mask`` for *content*, and its width."""
    seen = []

    def spy(matrix, width, height, proposed_mask=None):
        seen.append(([bytearray(row) for row in matrix], width))
        return qrmask._original(matrix, width, height, proposed_mask)

    real = encoder.find_and_apply_best_mask
    encoder.find_and_apply_best_mask = spy
    try:
        segno.make(content, micro=False, **options)
    finally:
        encoder.find_and_apply_best_mask = real
    ((matrix, width),) = seen
    return tuple(matrix), width


def copy(matrix):
    return tuple(bytearray(row) for row in matrix)


def assert_same_choice(matrix, width) -> None:
    """The patched and segno's ``find_and_apply_best_mask`` agree, and so do the scores of
    every mask."""
    given_matrix = copy(matrix)
    expected = qrmask._original(copy(matrix), width, width)
    got = qrmask.find_and_apply_best_mask(given_matrix, width, width)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert type(got[1]) is tuple and {type(row) for row in got[1]} == {bytearray}
    assert given_matrix == matrix  # as segno: the input is left unmasked
    for mask in range(8):
        masked = apply_segno_mask(matrix, width, mask)
        assert qrmask.mask_scores(masked, width, width) == encoder.mask_scores(
            masked, width, width
        ), mask


def apply_segno_mask(matrix, width, mask):
    """*matrix* with data mask *mask* applied by segno (its proposed-mask path)."""
    masked = copy(matrix)
    chosen, result = qrmask._original(masked, width, width, mask)
    assert chosen == mask
    return result


@settings(max_examples=120, deadline=None)
@given(text=TEXTS, error=st.sampled_from("lmqh"), boost=st.booleans())
def test_same_mask_and_matrix_as_segno(text, error, boost):
    matrix, width = unmasked_matrix(text, error=error, boost_error=boost)
    assert_same_choice(matrix, width)


@pytest.mark.slow
@pytest.mark.parametrize("version", range(1, 41))
def test_every_version(version):
    error = "lmqh"[version % 4]
    matrix, width = unmasked_matrix(f"CEROC {version}", version=version, error=error)
    assert width == 17 + 4 * version
    assert_same_choice(matrix, width)


@pytest.mark.parametrize("url", URLS)
def test_our_urls(url):
    matrix, width = unmasked_matrix(url, error=ERROR_LEVEL, boost_error=False)
    assert width == 29  # version 3
    assert_same_choice(matrix, width)


def make_both(content, **options):
    qrmask.uninstall()
    try:
        plain = segno.make(content, **options)
    finally:
        qrmask.install()
    return plain, segno.make(content, **options)


@settings(max_examples=60, deadline=None)
@given(text=TEXTS, error=st.sampled_from("lmqh"))
def test_make_gives_segno_codes(text, error):
    plain, patched = make_both(text, error=error, micro=False)
    assert patched.matrix == plain.matrix
    assert (patched.mask, patched.designator) == (plain.mask, plain.designator)


@pytest.mark.parametrize(
    "content, options",
    [
        ("12345", {"micro": True}),  # Micro QR: segno's own function
        ("CEROC", {"version": "M4"}),
        (URLS[0], {"mask": 5, "error": "m"}),  # a mask given: segno's own
        (URLS[0], {"version": 12, "error": "q"}),  # version information
        ("x", {}),  # segno picks a Micro QR code
    ],
)
def test_other_codes_unchanged(content, options):
    plain, patched = make_both(content, **options)
    assert patched.matrix == plain.matrix
    assert (patched.mask, patched.designator) == (plain.mask, plain.designator)


def test_unexpected_modules_go_to_segno():
    matrix, width = unmasked_matrix(URLS[0], error="m")
    odd = copy(matrix)
    odd[10][12] = 0x2  # not a module segno would leave there
    assert qrmask.find_and_apply_best_mask(copy(odd), width, width) == qrmask._original(
        copy(odd), width, width
    )
    with pytest.raises(ValueError):
        qrmask.mask_scores(odd, width, width)


@pytest.mark.parametrize("url", URLS)
def test_qr_svg_unchanged(url):
    patched = qr_svg.__wrapped__(url)
    qrmask.uninstall()
    try:
        plain = qr_svg.__wrapped__(url)
    finally:
        qrmask.install()
    assert patched == plain
    assert qr_svg(url) == plain


# --- the scores of any matrix ----------------------------------------------------------------

#: Pieces of lines around segno's 1:1:3:1:1 rule: the pattern, overlapping pairs of it (4
#: and 6 modules apart), light and dark runs.
PIECES = ["1011101", "10111011101", "1011101011101", "0000", "1111", "0", "1", "00000", "11"]


def line(pieces: list[str], width: int) -> bytes:
    bits = "".join(pieces)[:width].ljust(width, "0")
    return bytes(int(b) for b in bits)


@st.composite
def matrices(draw):
    width = draw(st.integers(21, 61))
    rows = []
    for _ in range(width):
        if draw(st.booleans()):
            rows.append(line(draw(st.lists(st.sampled_from(PIECES), max_size=20)), width))
        else:
            rows.append(bytes(draw(st.lists(st.integers(0, 1), min_size=width, max_size=width))))
    if draw(st.booleans()):  # the pieces in the columns too
        rows = [bytes(column) for column in zip(*rows, strict=True)]
    return tuple(bytearray(row) for row in rows), width


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_scores_of_any_matrix(case):
    matrix, width = case
    assert qrmask.mask_scores(matrix, width, width) == encoder.mask_scores(matrix, width, width)


@pytest.mark.parametrize(
    "pieces",
    [
        ["1011101", "011101"],  # counted, the next one (6 further) skipped
        ["1", "1011101", "011101", "1"],  # not counted: the next one is looked at
        ["0000", "1011", "1011101", "0000"],  # 4 apart
        ["1111", "1011", "1011101", "1111"],
        ["11", "1011101", "011101", "011101", "0000"],
        ["1011101"] * 5,
        ["0", "1011101", "1", "1011101", "0"],
    ],
)
def test_overlapping_patterns(pieces):
    rng = random.Random(" ".join(pieces))
    width = 29
    rows = [line(pieces, width)] + [
        bytes(rng.randint(0, 1) for _ in range(width)) for _ in range(width - 1)
    ]
    for matrix in (rows, [bytes(column) for column in zip(*rows, strict=True)]):
        matrix = tuple(bytearray(row) for row in matrix)
        expected = encoder.mask_scores(matrix, width, width)
        assert qrmask.mask_scores(matrix, width, width) == expected
