"""SVG paths of straight lines drawn without re-parsing: a patch of WeasyPrint 70.0 that
belongs upstream.

Every letter's footer has a QR code, one ``<path>`` of some 580 ``m`` and ``h`` commands
(:mod:`ceroc_donations.rendering.qr`). WeasyPrint's ``weasyprint.svg.path.path`` rewrites
the ``d`` string (a space around each of 20 letters, four regular expressions), then for
each command matches another regular expression and sizes each number through
``weasyprint.svg.utils.size`` (a function-level import, ``contextlib.suppress``,
``float``): 2.5 ms a code, nine tenths of drawing it.

:func:`path` here reads a ``d`` made only of ``M m L l H h V v Z z`` and plain decimal
numbers (optional sign and fraction, no exponent, no unit) with one regular expression,
then replays WeasyPrint's own loop, quirks included (a ``z`` straight after a move closes
nothing), on the numbers: the same ``move_to``/``line_to``/``close`` calls on the stream
with the same operands (``float(token)`` as ``size`` gives, the starting ``0, 0`` as ints),
and the same ``node.vertices`` for markers; 0.8 ms a code. Separators (spaces, tabs,
newlines, commas, runs of them) and numbers run together (``1.5.5``, ``1-2``) are split as
WeasyPrint splits them; a command's repeated arguments repeat it (``m``'s as ``l``).
Anything else (curves, arcs, exponents, units, numbers before the first command, a command
short of numbers, numbers after ``z``, stray characters) goes to WeasyPrint's ``path``
untouched. ``tests/test_svgpath.py`` compares the two call by call on generated and segno
paths, and byte for byte on PDFs and a letter.

It is installed by replacing the ``path`` entry of ``weasyprint.svg.TAGS``, through which
``SVG.draw_node`` draws every ``<path>``. The fix belongs in WeasyPrint (split the numbers
once, and skip ``size``'s unit handling for plain ones); until it is there,
:func:`install` refuses any WeasyPrint but the one it was checked on, or one whose path
parsing changed.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from math import atan2, pi

import weasyprint
import weasyprint.svg as _svg
import weasyprint.svg.utils as _utils

from ceroc_donations.rendering import pins

__all__ = [
    "PATCHED", "WEASYPRINT_VERSION", "install", "installed", "path", "source_digests",
    "uninstall",
]  # fmt: skip

#: The WeasyPrint release this patch was checked on (pinned in pyproject.toml).
WEASYPRINT_VERSION = "70.0"

#: ``weasyprint.svg.path`` is the function once the package is imported; the module is here.
_path_module = sys.modules["weasyprint.svg.path"]
_original_path = _path_module.path

#: What the fast route replays (the loop of ``path``) or stands in for (how ``normalize``,
#: ``point``, ``SVG.point`` and ``size`` turn a plain number's text into a float).
_ORIGINALS = {
    "weasyprint.svg.path.path": _original_path,
    "weasyprint.svg.utils.normalize": _utils.normalize,
    "weasyprint.svg.utils.point": _utils.point,
    "weasyprint.svg.utils.size": _utils.size,
    "weasyprint.svg.SVG.point": _svg.SVG.point,
}

#: SHA-256 of the source of each, as WeasyPrint 70.0 ships it.
PATCHED = {
    "weasyprint.svg.path.path": "194cd562b8d98251583c45d30938f4665547c796a15119e9ba05c25bb80f51d6",
    "weasyprint.svg.utils.normalize": (
        "644aeada98cda081c18fd5527af8e441a253e7c176160e369d0fde24db650b31"
    ),
    "weasyprint.svg.utils.point": (
        "993dbf313c8548a196c879609364ac06dba0c08a9e455606f0754e06004acb39"
    ),
    "weasyprint.svg.utils.size": "da153ed5f4a1a6201d9a4aa061d05aa39acb2999b58b2ae901703614424ee517",
    "weasyprint.svg.SVG.point": "333add7cf44fde1d8f4eeb780784de5772900bfff957719a4b4ab3e8c6134b78",
}

#: How many numbers each command takes; a longer run repeats it.
_ARITY = {"M": 2, "m": 2, "L": 2, "l": 2, "H": 1, "h": 1, "V": 1, "v": 1, "Z": 0, "z": 0}
#: After its first pair a move's further pairs are lines (SVG, and WeasyPrint, say so).
_REPEATED = {"M": "L", "m": "l"}

#: A command letter, or a number as WeasyPrint splits one out: a sign starts a new number,
#: and so does a point after a fraction (``1.5.5`` is ``1.5 .5``). ASCII digits only, no
#: exponent, no trailing point (``1..5`` is one token, not a number, for WeasyPrint).
_TOKEN = re.compile(r"[MmLlHhVvZz]|[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
#: What WeasyPrint's ``normalize`` treats as separators (runs of them are one).
_SEPARATORS = str.maketrans("", "", " \t\n\r,")


@functools.cache  # sources do not change while the process runs
def _digests() -> dict[str, str]:
    return pins.digests({name: inspect.getsource(fn) for name, fn in _ORIGINALS.items()})


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each WeasyPrint function this patch depends on."""
    return dict(_digests())


def _commands(d: str) -> list[tuple[str, float, float]] | None:
    """``[(letter, x, y)]`` of a ``d`` the fast route draws (repetitions made explicit,
    ``x`` alone for ``H``/``h``, ``y`` alone for ``V``/``v``), or None for WeasyPrint."""
    tokens = _TOKEN.findall(d)
    # Every character is a separator or part of a token: nothing was skipped.
    if not tokens or "".join(tokens) != d.translate(_SEPARATORS):
        return None
    commands: list[tuple[str, float, float]] = []
    append = commands.append
    count = len(tokens)
    i = 0
    while i < count:
        letter = tokens[i]
        arity = _ARITY.get(letter)
        if arity is None:  # a number before the first command
            return None
        i += 1
        j = i
        while j < count and tokens[j] not in _ARITY:
            j += 1
        numbers = j - i
        if arity == 0:
            if numbers:  # WeasyPrint 70 loops forever on "z 1 2": its own to do
                return None
            append((letter, 0.0, 0.0))
        elif arity == 1:
            if not numbers:
                return None
            if letter in "Hh":
                for k in range(i, j):
                    append((letter, float(tokens[k]), 0.0))
            else:
                for k in range(i, j):
                    append((letter, 0.0, float(tokens[k])))
        else:
            if not numbers or numbers % 2:
                return None
            append((letter, float(tokens[i]), float(tokens[i + 1])))
            letter = _REPEATED.get(letter, letter)
            for k in range(i + 2, j, 2):
                append((letter, float(tokens[k]), float(tokens[k + 1])))
        i = j
    return commands


def path(svg, node, font_size):
    """Draw path node: WeasyPrint 70.0's ``path``, for straight lines without parsing."""
    commands = _commands(node.get("d", ""))
    if commands is None:
        return _original_path(svg, node, font_size)

    # WeasyPrint's loop for the letters M m L l H h V v Z z, numbers already floats.
    stream = svg.stream
    vertices = node.vertices
    add_vertex = vertices.append
    line_to = stream.line_to
    current_point = 0, 0
    stream.move_to(*current_point)
    last_letter = None
    first_path_point = None
    for letter, x, y in commands:
        if last_letter in (None, "z", "Z") and letter not in "mM":
            add_vertex(current_point)
            first_path_point = current_point

        if last_letter in (None, "m", "M", "z", "Z"):
            first_path_point = None
        if letter not in "mMzZ" and first_path_point is None:
            first_path_point = current_point

        if letter == "h" or letter == "H":
            old_x, old_y = current_point
            if letter == "h":
                x += old_x
            angle = 0 if x > old_x else pi
            add_vertex((pi - angle, angle))
            line_to(x, old_y)
            current_point = x, old_y

        elif letter == "m" or letter == "M":
            if last_letter and last_letter not in "zZ":
                add_vertex(None)
            if letter == "m":
                x += current_point[0]
                y += current_point[1]
            stream.move_to(x, y)
            current_point = x, y

        elif letter == "v" or letter == "V":
            old_x, old_y = current_point
            if letter == "v":
                y += old_y
            angle = pi / 2 if y > old_y else -pi / 2
            add_vertex((pi - angle, angle))
            line_to(old_x, y)
            current_point = old_x, y

        elif letter == "l" or letter == "L":
            old_x, old_y = current_point
            if letter == "l":
                x += old_x
                y += old_y
            angle = atan2(y - old_y, x - old_x)
            add_vertex((pi - angle, angle))
            line_to(x, y)
            current_point = x, y

        elif first_path_point:  # z or Z, after something drawn
            add_vertex(None)
            stream.close()
            current_point = first_path_point

        if letter not in "zZ":
            add_vertex(current_point)
        last_letter = letter


def installed() -> bool:
    """Whether WeasyPrint draws ``<path>`` elements through this module."""
    return _svg.TAGS.get("path") is path


def install() -> None:
    """Patch WeasyPrint (idempotent); raise if it is not the version checked here."""
    if installed():
        return
    changed = pins.changed(PATCHED, source_digests())
    if _svg.TAGS.get("path") is not _original_path:
        changed.append("weasyprint.svg.TAGS['path'] (patched by someone else)")
    pins.require(
        "svgpath", "WeasyPrint", WEASYPRINT_VERSION, weasyprint.__version__, changed,
        "check it still draws what WeasyPrint draws, or drop it if WeasyPrint is as fast",
    )  # fmt: skip
    _svg.TAGS["path"] = path


def uninstall() -> None:
    """Give WeasyPrint back its own ``path`` (to measure or compare against it)."""
    _svg.TAGS["path"] = _original_path
