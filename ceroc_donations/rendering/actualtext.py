"""The true text of shaped glyphs: ``/ActualText`` spans and per-element ``/Lang``.

WeasyPrint maps each glyph to one piece of Unicode for the whole document (the font's
``ToUnicode`` CMap), taken from the first cluster the glyph is drawn in. Khmer clusters
reorder glyphs (a pre-base vowel is drawn before its consonant) and share glyphs, so a
glyph's one mapping is wrong in most other clusters: ``លេខ`` is copied as ``លខ``. The PDF
way to say "these glyphs read as this text" is a marked-content span::

    /Span <</ActualText <FEFF...>>> BDC [<glyphs>] TJ EMC

which Poppler (pdftotext, Evince), Acrobat and Chrome honour for copy, search and
read-aloud. :func:`draw_first_line` below is WeasyPrint 70.0's own function with one
addition, between ``# ceroc:`` and ``# ceroc: end``: around every syllable whose glyphs
do not read as its text one to one, it closes the ``TJ`` array, opens such a span, and
closes it after the syllable. The glyph ids, positions and kerning written are unchanged;
only the ``TJ`` arrays are split at those clusters.

:func:`install` also gives each tagged structure element whose language differs from the
document's a ``/Lang`` entry from the HTML's ``lang`` attribute (WeasyPrint sets the
document's language only), so a screen reader switches voice between the Khmer and the
English halves of a letter.

Both replace private WeasyPrint functions, so they are checked against the source they
were copied from: :func:`install` refuses to patch any other WeasyPrint, and
``tests/test_actualtext.py`` fails when the pinned version changes.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import unicodedata
from functools import lru_cache
from io import BytesIO
from xml.etree import ElementTree

import pydyf
import weasyprint
import weasyprint.draw.text as _text
import weasyprint.pdf.tags as _tags
from PIL import Image
from weasyprint.images import RasterImage, SVGImage
from weasyprint.logger import LOGGER
from weasyprint.text.ffi import FROM_UNITS, TO_UNITS, ffi, pango
from weasyprint.text.fonts import get_hb_object_data
from weasyprint.text.line_break import get_last_word_end

from ceroc_donations.rendering import pins

__all__ = [
    "PATCHED", "WEASYPRINT_VERSION", "install", "installed", "source_digest", "uninstall",
]  # fmt: skip

#: The WeasyPrint release these patches are a copy of (pinned in pyproject.toml).
WEASYPRINT_VERSION = "70.0"

#: SHA-256 of the source of each function replaced, as WeasyPrint 70.0 ships it.
PATCHED = {
    "weasyprint.draw.text.draw_first_line": (
        "1bb8eae6d88e71b17096a034656f3be17da8f1f513c78536c1c38d971927638b"
    ),
    "weasyprint.pdf.tags._build_box_tree": (
        "f716251a83e7096e9cae972b63e633aab21c664d200582166dd0d5096780f9c4"
    ),
}

COENG = "\u17d2"

#: Scripts that shape (reorder, stack or combine) and combining marks; runs without them
#: are left as WeasyPrint draws them.
_COMPLEX = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u08ff\u0900-\u0dff\u0e00-\u0eff\u0f00-\u109f"
    "\u1100-\u11ff\u1700-\u18af\u1a00-\u1aff\u1b00-\u1c4f\u1cd0-\u1dff\u200c\u200d"
    "\u20d0-\u20ff\ua800-\uabff\ufb1d-\ufdff\ufe00-\ufe2f\U00010a00-\U00011fff]"
)

#: Characters that print nothing and need no text of their own in a span.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

_original_draw_first_line = _text.draw_first_line
_original_build_box_tree = _tags._build_box_tree


@functools.cache  # sources do not change while the process runs
def source_digest(function) -> str:
    """SHA-256 of *function*'s source text."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def installed() -> bool:
    """Whether WeasyPrint currently draws text and tags through this module."""
    return _text.draw_first_line is draw_first_line and _tags._build_box_tree is _build_box_tree


def install() -> None:
    """Patch WeasyPrint (idempotent); raise if it is not the version copied here."""
    if installed():
        return
    originals = {
        "weasyprint.draw.text.draw_first_line": _original_draw_first_line,
        "weasyprint.pdf.tags._build_box_tree": _original_build_box_tree,
    }
    pins.require(
        "actualtext", "WeasyPrint", WEASYPRINT_VERSION, weasyprint.__version__,
        pins.changed(PATCHED, {name: source_digest(fn) for name, fn in originals.items()}),
        "port the patch first",
    )  # fmt: skip
    _text.draw_first_line = draw_first_line
    _tags._build_box_tree = _build_box_tree


def uninstall() -> None:
    """Give WeasyPrint back its own functions (to measure or compare against them)."""
    _text.draw_first_line = _original_draw_first_line
    _tags._build_box_tree = _original_build_box_tree


# --- ActualText ---------------------------------------------------------------------


def _clusters_needing_text(glyph_item, glyphs_info, num_glyphs, clusters, utf8_text, font):
    """``{first glyph index: (end glyph index, text)}``: the spans one line run needs.

    Pango's clusters (HarfBuzz's "monotone characters" level) are grouped into
    syllables: a cluster starting with a combining mark, or following a coeng, joins
    the one before, because Poppler breaks a word at a mark drawn outside a span (it is
    raised or drawn back over its base). A syllable gets a span unless it is one
    character drawn as one glyph that reads as that character: WeasyPrint's rule for a
    glyph's one mapping (the first cluster it is drawn in) is replayed, without changing
    the font, to know what each glyph will read as. Spans next to each other are merged.
    """
    offset = glyph_item.item.offset
    length = glyph_item.item.length
    if not _COMPLEX.search(utf8_text[offset : offset + length].decode()):
        # One character, one glyph, drawn in order: WeasyPrint's mapping is right.
        return {}
    rtl = glyph_item.item.analysis.level % 2
    clusters = ffi.unpack(clusters, num_glyphs)  # Python ints: read each once, not per use
    starts = sorted(set(clusters))
    ends = dict(zip(starts, [*starts[1:], length], strict=True))
    mapped: dict[int, str] = {}
    syllables: list[list] = []  # [first glyph, end glyph, text, glyphs read as text]
    i = 0
    while i < num_glyphs:
        cluster = clusters[i]
        j = i
        reads: list[str | None] = []
        while j < num_glyphs and clusters[j] == cluster:
            glyph_id = glyphs_info[j].glyph
            if glyph_id == pango.PANGO_GLYPH_EMPTY:
                reads.append("")
            elif glyph_id & pango.PANGO_GLYPH_UNKNOWN_FLAG:
                reads.append(None)  # .notdef: WeasyPrint maps it to a spare id
            else:
                if glyph_id in font.to_unicode:
                    mapped.setdefault(glyph_id, font.to_unicode[glyph_id])
                elif glyph_id not in mapped:
                    t1 = clusters[j]
                    if rtl:
                        t2 = length if j == 0 else clusters[j - 1]
                    else:
                        t2 = length if j == num_glyphs - 1 else clusters[j + 1]
                    mapped[glyph_id] = utf8_text[offset + t1 : offset + t2].decode()
                reads.append(mapped[glyph_id])
            j += 1
        text = utf8_text[offset + cluster : offset + ends[cluster]].decode()
        text = text.translate(_INVISIBLE)
        reads_true = None not in reads and "".join(reads) == text
        previous = syllables[-1] if syllables else None
        if (
            text
            and previous
            and previous[2]
            and previous[1] == i
            and (unicodedata.category(text[0]).startswith("M") or previous[2][-1] == COENG)
        ):
            previous[1], previous[2], previous[3] = j, previous[2] + text, False
        else:
            syllables.append([i, j, text, reads_true and len(text) == 1 and len(reads) == 1])
        i = j
    spans: dict[int, tuple[int, str]] = {}
    span_start = span_end = -1
    for first, end, text, simple in syllables:
        if not text:
            continue
        # Poppler takes a span's width up to its last glyph's advance: a span that ends
        # on a mark (no advance, drawn back over its base) also takes the next syllable,
        # or the gap to it reads as a space.
        open_ended = first == span_end and glyphs_info[span_end - 1].geometry.width == 0
        if simple and not open_ended:
            continue
        if first == span_end:
            spans[span_start] = (end, spans[span_start][1] + text)
        else:
            span_start = first
            spans[first] = (end, text)
        span_end = end
    return spans


def _show_pending(stream, string: str) -> str:
    """Write the open ``TJ`` array in *string* (if any glyph is in it); start a new one."""
    if string[-1] == "<":
        string = string[:-1]
    else:
        string += ">"
    if string:
        stream.show_text(string)
    return "<"


@lru_cache(maxsize=4096)
def _span_properties(text: str) -> bytes:
    """``<</ActualText (…)>>`` as pydyf writes it: the same words recur in every letter."""
    return pydyf.Dictionary({"ActualText": pydyf.String(text)}).data


def _open_span(stream, string: str, text: str) -> str:
    string = _show_pending(stream, string)
    # What stream.begin_marked_content("Span", Dictionary(…)) appends, serialised once.
    stream.stream += ("/Span", _span_properties(text), b"BDC")
    return string


def _close_span(stream, string: str) -> str:
    string = _show_pending(stream, string)
    stream.end_marked_content()
    return string


def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
    """Draw the given ``textbox`` line to the document ``stream``."""
    # Don’t draw lines with only invisible characters.
    if not textbox.text.strip():
        return []

    if textbox.style["font_size"] < 1e-6:  # default float precision used by pydyf
        return []

    pango.pango_layout_set_single_paragraph_mode(textbox.pango_layout.layout, True)

    if text_overflow == "ellipsis" or block_ellipsis != "none":
        assert textbox.pango_layout.max_width is not None
        max_width = textbox.pango_layout.max_width
        pango.pango_layout_set_width(textbox.pango_layout.layout, int(max_width * TO_UNITS))
        if text_overflow == "ellipsis":
            pango.pango_layout_set_ellipsize(textbox.pango_layout.layout, pango.PANGO_ELLIPSIZE_END)
        else:
            if block_ellipsis == "auto":
                ellipsis = "…"
            else:
                assert block_ellipsis[0] == "string"
                ellipsis = block_ellipsis[1]

            # Remove last word if hyphenated.
            new_text = textbox.pango_layout.text
            if new_text.endswith(textbox.style["hyphenate_character"]):
                last_word_end = get_last_word_end(
                    new_text[: -len(textbox.style["hyphenate_character"])], textbox.style["lang"]
                )
                if last_word_end:
                    new_text = new_text[:last_word_end]

            textbox.pango_layout.set_text(new_text + ellipsis)

    first_line, index = textbox.pango_layout.get_first_line()

    if block_ellipsis != "none":
        while index:
            last_word_end = get_last_word_end(
                textbox.pango_layout.text[: -len(ellipsis)], textbox.style["lang"]
            )
            if last_word_end is None:
                break
            new_text = textbox.pango_layout.text[:last_word_end]
            textbox.pango_layout.set_text(new_text + ellipsis)
            first_line, index = textbox.pango_layout.get_first_line()

    stream.set_text_matrix(*matrix.values)
    previous_pango_font = None
    string = ""
    x_advance = 0
    emojis = []
    # ceroc: the line's text, encoded once for all its runs.
    line_utf8 = textbox.pango_layout.text.encode()
    # ceroc: end
    run = first_line.runs[0]
    while run != ffi.NULL:
        # Get Pango objects.
        glyph_item = run.data
        run = run.next
        glyph_string = glyph_item.glyphs
        glyphs_info = glyph_string.glyphs
        num_glyphs = glyph_string.num_glyphs
        clusters = glyph_string.log_clusters
        utf8_text = None

        pango_font = glyph_item.item.analysis.font
        if pango_font != previous_pango_font:
            # Add font file content and get font size.
            previous_pango_font = pango_font
            font, font_size = stream.add_font(pango_font)

            # Workaround for https://gitlab.gnome.org/GNOME/pango/-/issues/530.
            # This is also needed by raster emoji fonts, see #2800.
            if pango.pango_version() < 14802 or font.png:
                font_size = textbox.style["font_size"]

            # Go through the run glyphs.
            if string:
                stream.show_text(string)
            string = ""
            stream.set_font_size(font.hash, 1 if font.bitmap else font_size)
        string += "<"
        # ceroc: the clusters of this run whose glyphs do not read as their text.
        spans = _clusters_needing_text(
            glyph_item, glyphs_info, num_glyphs, clusters, line_utf8, font
        )
        span_end = None
        # ceroc: end
        for i, glyph_info in enumerate(glyphs_info[0:num_glyphs]):
            # ceroc: close the span after its cluster's last glyph, open one before a cluster.
            if span_end is not None and i >= span_end:
                string = _close_span(stream, string)
                span_end = None
            if i in spans:
                span_end, true_text = spans[i]
                string = _open_span(stream, string, true_text)
            # ceroc: end

            glyph_id = glyph_info.glyph
            width = glyph_info.geometry.width

            # Display zero-width empty glyph.
            if glyph_id == pango.PANGO_GLYPH_EMPTY:
                string += f">{-width / font_size}<"
                continue

            # Display .notdef and log warning for missing glyphs.
            if glyph_id & pango.PANGO_GLYPH_UNKNOWN_FLAG:
                codepoint = glyph_id - pango.PANGO_GLYPH_UNKNOWN_FLAG
                LOGGER.warning(
                    '.notdef glyph rendered for Unicode string unsupported by fonts: "%s" (U+%04X)',
                    chr(codepoint),
                    codepoint,
                )
                glyph_id = font.get_unused_glyph_id(codepoint)
                font.widths[glyph_id] = round(width * 1000 * FROM_UNITS / font_size)
                if 0 not in font.widths:
                    # "width" is actually Pango’s get_approximate_char_width. Force
                    # .notdef’s to use this width, even if it’s not the right, as we
                    # want to keep Pango’s layout for next glyphs.
                    font.widths[0] = font.widths[glyph_id]

            # Create mapping between glyphs and Unicode codepoints.
            if glyph_id not in font.to_unicode:
                # Get positions of the glyph in the UTF-8 string.
                offset = glyph_item.item.offset
                t1 = clusters[i]
                if glyph_item.item.analysis.level % 2:  # rtl
                    t2 = glyph_item.item.length if i == 0 else clusters[i - 1]
                else:
                    t2 = glyph_item.item.length if i == num_glyphs - 1 else clusters[i + 1]
                utf8_text = utf8_text or textbox.pango_layout.text.encode()
                font.to_unicode[glyph_id] = utf8_text[offset + t1 : offset + t2].decode()

            # Set horizontal and vertical offsets.
            offset = glyph_info.geometry.x_offset / font_size
            rise = glyph_info.geometry.y_offset / 1000
            if rise:
                if string[-1] == "<":
                    string = string[:-1]
                else:
                    string += ">"
                if string:
                    stream.show_text(string)
                stream.set_text_rise(-rise)
                string = ""
                if offset:
                    string = f"{-offset}"
                string += f"<{glyph_id:02x}>" if font.bitmap else f"<{glyph_id:04x}>"
                stream.show_text(string)
                stream.set_text_rise(0)
                string = "<"
            else:
                if offset:
                    string += f">{-offset}<"
                string += f"{glyph_id:02x}" if font.bitmap else f"{glyph_id:04x}"

            # Get glyph logical widths.
            if glyph_id in font.widths:
                logical_width = font.widths[glyph_id]
            else:
                pango.pango_font_get_glyph_extents(
                    pango_font, glyph_id, stream.ink_rect, stream.logical_rect
                )
                logical_width = font.widths[glyph_id] = round(
                    stream.logical_rect.width * 1000 * FROM_UNITS / font_size
                )

            # Set kerning, word spacing, letter spacing.
            kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
            if kerning:
                string += f">{int(kerning)}<"

            # Create list of emojis.
            if font.svg:
                svg_data = get_hb_object_data(font.hb_face, "svg", glyph_id)
                if svg_data:
                    # Do as explained in specification
                    # https://learn.microsoft.com/typography/opentype/spec/svg
                    tree = ElementTree.fromstring(svg_data)
                    if tree.get("id") != f"glyph{glyph_id}":
                        defs = ElementTree.Element("defs")
                        for child in list(tree):
                            defs.append(child)
                            tree.remove(child)
                        tree.append(defs)
                        ElementTree.SubElement(tree, "use", attrib={"href": f"#glyph{glyph_id}"})
                    if "viewBox" not in tree.attrib:
                        tree.attrib["viewBox"] = f"0 0 {font.upem} {font.upem}"
                    image = SVGImage(tree, None, None, None)
                    a = d = 1
                    emojis.append([image, font, a, d, x_advance, 0])
            elif font.png:
                png_data = get_hb_object_data(font.hb_font, "png", glyph_id)
                if png_data:
                    pillow_image = Image.open(BytesIO(png_data))
                    image_id = f"{font.hash}{glyph_id}"
                    image = RasterImage(pillow_image, image_id, png_data)
                    d = logical_width / 1000
                    a = pillow_image.width / pillow_image.height * d
                    pango.pango_font_get_glyph_extents(
                        pango_font, glyph_id, stream.ink_rect, stream.logical_rect
                    )
                    f = -stream.logical_rect.y
                    f = f * FROM_UNITS / font_size - font_size
                    emojis.append([image, font, a, d, x_advance, f])
            elif font.colr:
                svg_data = get_hb_object_data(font.hb_font, "colr", glyph_id)
                if svg_data:
                    tree = ElementTree.fromstring(svg_data)
                    image = SVGImage(tree, None, None, None)
                    a = d = 1
                    e = x_advance - kerning
                    emojis.append([image, font, a, d, e, -textbox.baseline])

            x_advance += (logical_width + offset - kerning) / 1000

        # ceroc: a span still open at the end of the run closes with it.
        if span_end is not None:
            string = _close_span(stream, string)
        # ceroc: end

        # Close the last glyphs list, remove if empty.
        if string[-1] == "<":
            string = string[:-1]
        else:
            string += ">"

    # Draw text.
    stream.show_text(string)

    return emojis


# --- Lang per structure element -------------------------------------------------------


def _build_box_tree(box, parent, pdf, page_number, nums, annotations, tags):
    """WeasyPrint's ``_build_box_tree``, adding ``/Lang`` where it differs from the document's.

    WeasyPrint's recursion goes through the module's global name, so every element of
    the tree passes here, children first; an element yielded up from a child (the
    ``html`` and ``body`` boxes pass their children through) is already done.
    """
    document_lang = getattr(pdf.catalog.get("Lang"), "string", None)
    for element in _original_build_box_tree(box, parent, pdf, page_number, nums, annotations, tags):
        if "Lang" not in element and not getattr(element, "ceroc_lang_done", False):
            style = getattr(box, "style", None)
            lang = style["lang"] if style else None
            if lang and lang != document_lang:
                element["Lang"] = pydyf.String(lang)
            element.ceroc_lang_done = True
        yield element
