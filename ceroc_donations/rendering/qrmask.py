"""Choose a QR code's data mask with whole-matrix integer operations: a patch of segno 1.6.6
that belongs upstream.

``segno.make`` tries all 8 data masks of a QR code and keeps the one with the lowest
penalty (ISO/IEC 18004:2015, 7.8.3). segno 1.6.6 does it module by module in Python:
``apply_mask`` calls two closures per module and ``mask_scores`` loops over every module
for N1..N4, so choosing the mask is ~1.6 ms of the ~2.0 ms a letter's code (version 3,
29 x 29) takes. While installed, ``segno.encoder.find_and_apply_best_mask`` (which
``segno.encoder._encode`` looks up as a module global) is replaced, for regular QR codes
with no mask given, by one that

- packs the matrix once into a Python integer, one bit a module: its rows, then its
  columns, each line followed by 4 light padding bits (the light "border" segno's
  1:1:3:1:1 rule sees at both ends of a line);
- XORs it with each mask's pattern, cached per (width, mask) and made once by segno's own
  ``get_data_mask_functions``, ``apply_mask`` and function-pattern code, so the pattern is
  segno's by construction;
- scores N1..N4 with integer shifts and ``int.bit_count``, exactly as ``mask_scores``
  does (same runs, same 2 x 2 blocks, the same 1:1:3:1:1 matches with its boundary and
  "search on from here" rules, the same float arithmetic for N4);
- keeps the first mask with the lowest score (segno's ``<``), and returns
  ``(mask, tuple of bytearrays)`` as segno does, the input matrix left as it was.

A letter's code then takes ~0.35 ms instead of ~1.95 ms (choosing the mask ~0.05 ms).

Micro QR codes, a mask given by the caller, a non-square matrix or a module that is not
0 or 1 go to segno's own function. ``tests/test_qrmask.py`` checks mask, matrix and
scores against segno's for many inputs and every version. segno's mask search would
better be fast itself; until it is, :func:`install` refuses any segno but the one it was
checked on, or one whose functions this patch depends on have changed.
"""

from __future__ import annotations

import inspect
import threading

import segno
from segno import encoder

from ceroc_donations.rendering import pins

__all__ = [
    "PATCHED",
    "SEGNO_VERSION",
    "find_and_apply_best_mask",
    "install",
    "installed",
    "mask_scores",
    "uninstall",
]

#: The segno release this patch was checked on (pinned in pyproject.toml).
SEGNO_VERSION = "1.6.6"

#: SHA-256 of the source of what this patch replaces or repeats, as segno 1.6.6 ships it.
PATCHED = {
    "segno.encoder._encode": "0ae2ae6a29d4455df4ee8afc42c882e133846160e680465d65aa810b113f9b20",
    "segno.encoder.find_and_apply_best_mask": (
        "8a756d73a8f59a0fd368a245d2961735980a870055f4510abd8f66acde4920aa"
    ),
    "segno.encoder.apply_mask": "e074b229016fc6fba52e0f13a4e594d78480ce766057f4b0c9155d84f0375e06",
    "segno.encoder.evaluate_mask": (
        "aaefa0025d473f3711433d26a5044d971a57ce7457fd741cf95f9d5498f6d054"
    ),
    "segno.encoder.mask_scores": "5b5600b2dbd95280369d19dbcd40782ff6bc79fa0e7a3474b1c1d2afa8177ac2",
    "segno.encoder.make_matrix": "a3204db79c5701538b6438160b04705e5e507c3896f1799543fceb7a2492a03d",
    "segno.encoder.add_finder_patterns": (
        "01b67cb1a2d1ae3505b1245d2972a62dc58a37a5da680d38efddd06a14d02892"
    ),
    "segno.encoder.add_alignment_patterns": (
        "34fb19b5d89aabc7ba43d5d3cf254a99706cf8c18c95ed94adcb91db7fc03918"
    ),
    "segno.encoder.get_data_mask_functions": (
        "c598572c15f85e8e8775521c6d7b4bf9a49af5aa6a6a42bf1b7ffd05ca2048c8"
    ),
}

_original = encoder.find_and_apply_best_mask
#: segno's own functions, as imported (``find_and_apply_best_mask`` before the patch).
_ORIGINALS = {name: getattr(encoder, name.rsplit(".", 1)[1]) for name in PATCHED}
#: Light bits after each line of the packed matrix: as many as the 1:1:3:1:1 rule looks
#: beyond a match, so a line's ends need no special case and no match spans two lines.
_PAD = 4
_TO_ASCII = bytes.maketrans(b"\x00\x01", b"01")


def _sources() -> dict[str, str]:
    return {name: inspect.getsource(function) for name, function in _ORIGINALS.items()}


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each segno function this patch depends on."""
    return pins.digests(_sources())


def _pack(flat: bytes, width: int) -> int:
    """A row-major ``width`` x ``width`` matrix of 0/1 bytes as one integer: module ``c`` of
    line ``n`` (rows 0..width-1, then columns) at bit ``n * (width + 4) + c``."""
    text = flat.translate(_TO_ASCII)
    lines = [text[r * width : (r + 1) * width] for r in range(width)]
    lines += [text[c::width] for c in range(width)]
    return int((b"0" * _PAD).join(lines)[::-1], 2)


def _bits(width: int, lines: range, columns: range) -> int:
    """The bits of modules ``columns`` of packed ``lines``."""
    stride = width + _PAD
    line = sum(1 << c for c in columns)
    return sum(line << (n * stride) for n in lines)


class _Layout:
    """What scoring a ``width`` x ``width`` QR code needs, made once per width."""

    __slots__ = ("blocks", "mask_bits", "mask_bytes", "pairs", "starts7", "stride", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.stride = width + _PAD
        both = range(2 * width)
        #: Where a module and its right neighbour are in the same line (N1).
        self.pairs = _bits(width, both, range(width - 1))
        #: Where a 2 x 2 block's upper left module may be: rows only (N2).
        self.blocks = _bits(width, range(width - 1), range(width - 1))
        #: Where a 1:1:3:1:1 pattern may start within a line (N3).
        self.starts7 = _bits(width, both, range(width - 6))
        patterns = [_mask_pattern(width, mask) for mask in range(8)]
        #: Each mask's XOR pattern, packed, and as an integer of row-major bytes.
        self.mask_bits = tuple(_pack(p, width) for p in patterns)
        self.mask_bytes = tuple(int.from_bytes(p, "little") for p in patterns)


def _mask_pattern(width: int, mask: int) -> bytes:
    """Mask ``mask`` of a ``width`` x ``width`` QR code as segno applies it, row-major: 1
    where it flips a module. The function pattern is made as segno's
    ``find_and_apply_best_mask`` makes it, the flips by segno's own ``apply_mask``."""
    function_matrix = encoder.make_matrix(width, width)
    encoder.add_finder_patterns(function_matrix, width, width)
    encoder.add_alignment_patterns(function_matrix, width, width)
    function_matrix[-8][8] = 0x1

    def is_encoding_region(i, j):
        return function_matrix[i][j] > 0x1

    pattern = tuple(bytearray(width) for _ in range(width))
    mask_function = encoder.get_data_mask_functions(False)[mask]
    encoder.apply_mask(pattern, mask_function, width, width, is_encoding_region)
    return b"".join(pattern)


_layouts: dict[int, _Layout] = {}
_layouts_lock = threading.Lock()


def _layout(width: int) -> _Layout:
    layout = _layouts.get(width)
    if layout is None:
        with _layouts_lock:
            layout = _layouts.get(width)
            if layout is None:
                layout = _layouts[width] = _Layout(width)
    return layout


def _scores(x: int, layout: _Layout) -> tuple[int, int, int, int]:
    """segno's ``mask_scores`` (N1, N2, N3, N4) of the packed matrix ``x``."""
    width = layout.width
    # N1: a run of k >= 5 equal modules in a line scores k - 2: one per window of 5 equal
    # modules (k - 4 of them), and 2 for the run's first window.
    differs = x ^ (x >> 1)
    same = ~differs & layout.pairs
    five = same & (same >> 1) & (same >> 2) & (same >> 3)
    n1 = five.bit_count() + 2 * (five & ~(five << 1)).bit_count()
    # N2: 3 per 2 x 2 block of one colour (blocks overlap), counted in the rows.
    below = x ^ (x >> layout.stride)
    n2 = 3 * (layout.blocks & ~(below | (below >> 1) | differs)).bit_count()
    # N3: dark light dark dark dark light dark in a line, counted (40) when the 4 modules
    # before or after it (fewer at a line's end: the padding is light) are light.
    light = ~x
    matches = (
        x & (light >> 1) & (x >> 2) & (x >> 3) & (x >> 4) & (light >> 5) & (x >> 6)
    ) & layout.starts7
    near = x | (x << 1)
    near |= near << 2  # bit k: any of modules k-3..k dark
    counted = matches & ~((near << 1) & (near >> 10))  # k-4..k-1 or k+7..k+10 light
    # segno searches a line with ``find``: after a counted match it goes on 7 modules
    # further, else 4, so of two matches 4 or 6 apart (no other overlap is possible) the
    # second is looked at only if the first is not counted. Such chains are followed
    # match by match; every other match is looked at.
    chained = matches & ((matches >> 4) | (matches >> 6) | (matches << 4) | (matches << 6))
    n3 = 40 * (counted & ~chained).bit_count()
    offset = 0
    while chained:
        low = chained & -chained
        chained ^= low
        k = low.bit_length() - 1
        if k < offset:
            continue
        if counted & low:
            n3 += 40
            offset = k + 7
        else:
            offset = k + 4
    # N4, in segno's float arithmetic. Every module is in a row and in a column.
    percent = float(x.bit_count() // 2) / (width**2)
    n4 = 10 * int(abs(percent * 100 - 50) / 5)
    return n1, n2, n3, n4


def _flat(matrix, width: int, height: int) -> bytes | None:
    """The matrix as row-major bytes, or None if this patch does not handle it."""
    if width != height or width < 21 or len(matrix) != height:
        return None
    try:
        flat = b"".join(matrix)
    except TypeError:
        return None
    if len(flat) != width * height or flat.translate(None, b"\x00\x01"):
        return None
    return flat


def mask_scores(matrix, width: int, height: int) -> tuple[int, int, int, int]:
    """``segno.encoder.mask_scores`` of a (masked) QR code matrix, by this module's
    integer operations (for the tests: the same tuple)."""
    flat = _flat(matrix, width, height)
    if flat is None:
        raise ValueError("not a QR code matrix of 0/1 modules")
    return _scores(_pack(flat, width), _layout(width))


def find_and_apply_best_mask(matrix, width, height, proposed_mask=None):
    """segno's ``find_and_apply_best_mask``: ``(mask, matrix)``, the same for every input."""
    flat = None if proposed_mask is not None else _flat(matrix, width, height)
    if flat is None:
        return _original(matrix, width, height, proposed_mask)
    layout = _layout(width)
    packed = _pack(flat, width)
    best_mask = -1
    best_score = None
    for mask, pattern in enumerate(layout.mask_bits):
        score = sum(_scores(packed ^ pattern, layout))
        if best_score is None or score < best_score:
            best_score = score
            best_mask = mask
    size = width * width
    masked = (int.from_bytes(flat, "little") ^ layout.mask_bytes[best_mask]).to_bytes(
        size, "little"
    )
    return best_mask, tuple(bytearray(masked[r : r + width]) for r in range(0, size, width))


def installed() -> bool:
    """Whether segno chooses QR code masks with this module."""
    return encoder.find_and_apply_best_mask is find_and_apply_best_mask


def install() -> None:
    """Patch segno (idempotent); raise if it is not the version checked here."""
    if installed():
        return
    pins.require(
        "qrmask", "segno", SEGNO_VERSION, segno.__version__,
        pins.changed(PATCHED, source_digests()),
        "check it still applies, or drop it if segno chooses masks fast",
    )  # fmt: skip
    encoder.find_and_apply_best_mask = find_and_apply_best_mask


def uninstall() -> None:
    """Give segno back its own ``find_and_apply_best_mask``."""
    encoder.find_and_apply_best_mask = _original
