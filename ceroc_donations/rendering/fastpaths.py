"""Shorter routes through WeasyPrint 70's hottest small functions: same results.

A letter asks a computed style for some 4,900 values, and most of them are neither
declared for the element nor special: an initial value, or the parent's value of an
inherited property. WeasyPrint's ``ComputedStyle.__missing__`` walks its whole general
path for each (logical properties, ``var()``, math functions, text decorations, named
pages). It then resolves percentages of 13 lengths on each of ~230 boxes a letter, with
two function calls per length. Both are about 6 % of a letter; its fonts, 5 %.

:func:`install` puts in front of them:

- ``ComputedStyle.__missing__``: a value not in the element's cascade, whose physical
  property has no logical one in the cascade either, is the initial value (properties
  whose initial value needs no computing) or the parent's value (inherited properties,
  when it holds no math function), stored and returned as the general path stores and
  returns it. Everything else (``float``, ``display``, ``position``, ``page``,
  text decorations, custom properties, the root element's inherited values, any
  declared value) takes WeasyPrint's own path;
- ``AnonymousStyle.__missing__``: the same split, from precomputed sets;
- ``layout.percent.resolve_percentages``: the same used values, set by one loop over the
  box's 13 lengths; a value that is neither a pixel length nor a percentage (``auto``,
  math functions) goes to WeasyPrint's ``percentage``;
- fonts: each letter's ``Font`` gets the bytes of its font file as the same bytes object
  (WeasyPrint copies the whole file, 1.7 MB a letter, and the pages it lands on fault in
  anew); subsets are made from HarfBuzz's preprocessed face (``hb_subset_preprocess``,
  the same bytes in about half the time), and a subset made for the same face, glyphs
  and flags is reused (:mod:`.pdfwrite` then deflates it once). A reference to each
  such face is held, so no other face can take its address meanwhile;
- ``text.line_break.Layout.setup``: one Pango context per font map, direction and
  language, not one per text layout (~165 a letter; WeasyPrint never changes a context
  after setting these).

``tests/test_fastpaths.py`` checks that every computed value of every box and every
PDF byte is the same with and without them. Like :mod:`.actualtext` and :mod:`.pdfwrite`,
:func:`install` refuses any WeasyPrint but the one whose sources it was checked on.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections import OrderedDict

import weasyprint
from weasyprint import css
from weasyprint.css.functions import check_math
from weasyprint.css.properties import INHERITED, INITIAL_NOT_COMPUTED, INITIAL_VALUES
from weasyprint.formatting_structure import boxes
from weasyprint.layout import percent
from weasyprint.pdf import fonts as pdf_fonts
from weasyprint.text import line_break
from weasyprint.text.constants import LST_TO_ISO, PANGO_DIRECTION
from weasyprint.text.ffi import (
    FROM_UNITS,
    ffi,
    gobject,
    harfbuzz,
    harfbuzz_subset,
    pango,
    unicode_to_char_p,
)
from weasyprint.text.fonts import font_features, get_font_description

from ceroc_donations.rendering import pins

__all__ = ["PATCHED", "WEASYPRINT_VERSION", "install", "installed", "uninstall"]

#: The WeasyPrint release these routes were checked on (pinned in pyproject.toml).
WEASYPRINT_VERSION = "70.0"

_original_missing = css.ComputedStyle.__missing__
_original_anonymous_missing = css.AnonymousStyle.__missing__
_original_resolve = percent.resolve_percentages
_percentage = percent.percentage
_adjust_box_sizing = percent.adjust_box_sizing
# HarfBuzz 6.0's subsetting of a face prepared once (WeasyPrint does not declare it).
if harfbuzz_subset is not None:
    ffi.cdef("hb_face_t * hb_subset_preprocess (hb_face_t *source);")

_original_setup = line_break.Layout.setup
_original_font_init = pdf_fonts.Font.__init__
_original_hb_object_data = pdf_fonts.get_hb_object_data
_original_subset = pdf_fonts.Font._harfbuzz_subset
_PHYSICAL = css.PHYSICAL_FUNCTIONS
_COMPUTER_FUNCTIONS = css.COMPUTER_FUNCTIONS

#: SHA-256 of the source of each function whose behaviour the shortcuts copy.
PATCHED = {
    "weasyprint.css.ComputedStyle.__missing__": (
        "b318d8efc8ac79d716f05cb81cc3abd65a32bd79601e363b218a32559bb3a5fb"
    ),
    "weasyprint.css.AnonymousStyle.__missing__": (
        "d39252707764730654fe9f69638bfc8bb7435365de0dbfa0309708576cae5d63"
    ),
    "weasyprint.layout.percent": "bac190e240dce17b4342feb99423e8232433d3727c0833897f50fed88cb163a2",
    "weasyprint.pdf.fonts.Font": "1888854798bf87262b5fc822169feea96211da0c7de97cef8e3001c4a5c118a1",
    "weasyprint.text.fonts.get_hb_object_data": (
        "03040a623df04c2b5fe464037e14b07fe430fd1ec43602abf955fdf3fbe77ea6"
    ),
    "weasyprint.text.line_break.Layout.setup": (
        "fb227a55094f41d42fbd57f180d8b7a9a1e741969ec8ddb3fd5cd80920257442"
    ),
}

#: Properties WeasyPrint's general path treats apart, whatever their cascade.
_SPECIAL = frozenset({"float", "display", "position", "page"})
#: Not inherited, initial value stored as it is (no computing, no math).
_PLAIN_INITIAL = frozenset(
    key
    for key, value in INITIAL_VALUES.items()
    if key not in INHERITED
    and key not in INITIAL_NOT_COMPUTED
    and key not in _SPECIAL
    and not key.startswith("text_decoration_")
    and not check_math(value)
)
#: Inherited from the parent's computed value.
_PLAIN_INHERITED = frozenset(
    key for key in INHERITED if key not in _SPECIAL and not key.startswith("text_decoration_")
)
_ANONYMOUS_INHERITED = frozenset(key for key in INHERITED if key != "page")
_ANONYMOUS_INITIAL = frozenset(
    key
    for key in INITIAL_VALUES
    if key not in INHERITED
    and key != "page"
    and not key.startswith("text_decoration_")
    and key not in INITIAL_NOT_COMPUTED
)

#: The modules that imported ``resolve_percentages`` by name.
_RESOLVE_USERS = (
    "weasyprint.layout.absolute",
    "weasyprint.layout.block",
    "weasyprint.layout.column",
    "weasyprint.layout.float",
    "weasyprint.layout.grid",
    "weasyprint.layout.inline",
    "weasyprint.layout.page",
    "weasyprint.layout.table",
    "weasyprint.layout.percent",
)


def _computed_missing(self, key):
    """``ComputedStyle.__missing__``, the initial and inherited values first."""
    if key not in self.cascaded:
        logical = _PHYSICAL.get(key)
        if logical is None or logical(block="ttb", inline=self["direction"]) not in self.cascaded:
            if key in _PLAIN_INITIAL:
                value = self[key] = INITIAL_VALUES[key]
                return value
            if key in _PLAIN_INHERITED:
                parent = self.parent_style
                if parent is not None:
                    value = parent[key]
                    if not check_math(value):
                        self[key] = value
                        return value
    return _original_missing(self, key)


def _anonymous_missing(self, key):
    """``AnonymousStyle.__missing__``, its two common cases first."""
    if key in _ANONYMOUS_INHERITED:
        value = self[key] = self.parent_style[key]
        return value
    if key in _ANONYMOUS_INITIAL:
        value = self[key] = INITIAL_VALUES[key]
        return value
    return _original_anonymous_missing(self, key)


def _used(style, name, refer_to):
    """``percent.percentage`` of ``style[name]``: pixels and percentages inline."""
    value = style[name]
    unit = getattr(value, "unit", None)
    if unit == "px":
        return value.value
    if unit == "%":
        return refer_to * value.value / 100
    return _percentage(value, style, refer_to)


def _resolve_percentages(box, containing_block):
    """``percent.resolve_percentages`` in one pass over the box's lengths."""
    if isinstance(containing_block, boxes.Box):
        cb_width = containing_block.width
        cb_height = containing_block.height
    else:
        cb_width, cb_height = containing_block
    maybe_height = cb_height if isinstance(box, boxes.PageBox) else cb_width
    style = box.style
    box.margin_left = _used(style, "margin_left", cb_width)
    box.margin_right = _used(style, "margin_right", cb_width)
    box.margin_top = _used(style, "margin_top", maybe_height)
    box.margin_bottom = _used(style, "margin_bottom", maybe_height)
    box.padding_left = _used(style, "padding_left", cb_width)
    box.padding_right = _used(style, "padding_right", cb_width)
    box.padding_top = _used(style, "padding_top", maybe_height)
    box.padding_bottom = _used(style, "padding_bottom", maybe_height)
    box.width = _used(style, "width", cb_width)
    min_width = _used(style, "min_width", cb_width)
    box.min_width = 0 if min_width == "auto" else min_width
    box.max_width = _used(style, "max_width", cb_width)

    if cb_height == "auto":
        height = style["height"]
        if height == "auto" or check_math(height) or height.unit == "%":
            box.height = "auto"
        else:
            assert height.unit.lower() == "px"
            box.height = height.value
        min_height = _used(style, "min_height", 0)
        box.min_height = 0 if min_height == "auto" else min_height
        box.max_height = _used(style, "max_height", float("inf"))
    else:
        box.height = _used(style, "height", cb_height)
        min_height = _used(style, "min_height", cb_height)
        box.min_height = 0 if min_height == "auto" else min_height
        box.max_height = _used(style, "max_height", cb_height)

    collapse = style["border_collapse"] == "collapse"
    for prop in ("border_top_width", "border_right_width", "border_bottom_width",
                 "border_left_width"):  # fmt: skip
        if not (collapse and hasattr(box, prop)):
            setattr(box, prop, style[prop])

    _adjust_box_sizing(box, "width")
    _adjust_box_sizing(box, "height")


class _Face:
    """A HarfBuzz face this process keeps: a reference to it (so no other face can take
    its address), its bytes, and HarfBuzz's preprocessed copy for subsetting."""

    __slots__ = ("kept", "content", "ready")

    def __init__(self, hb_face, content: bytes | None):
        self.kept = ffi.gc(harfbuzz.hb_face_reference(hb_face), harfbuzz.hb_face_destroy)
        self.content = content
        self.ready = None

    def preprocessed(self):
        """HarfBuzz's preprocessed copy of the face, made once: subsetting it gives the
        same bytes, in half the time (``None`` where HarfBuzz cannot make one)."""
        if self.ready is None:
            ready = harfbuzz_subset.hb_subset_preprocess(self.kept)
            self.ready = ffi.gc(ready, harfbuzz.hb_face_destroy) if ready != ffi.NULL else False
        return self.ready or None


#: The faces of the fonts WeasyPrint loaded, by address.
_FACES: OrderedDict[int, _Face] = OrderedDict()
_FACES_KEPT = 16
#: Subsets made: (face address, index, glyphs, flags) → subset bytes.
_SUBSETS: OrderedDict[tuple, bytes] = OrderedDict()
_SUBSETS_KEPT = 128
_fonts_lock = threading.Lock()


def _address(hb_face) -> int:
    return int(ffi.cast("uintptr_t", hb_face))


def _face(hb_face, content: bytes | None = None) -> tuple[int, _Face]:
    """The kept face at *hb_face*'s address, kept from now on if it was not (the caller
    holds :data:`_fonts_lock`)."""
    address = _address(hb_face)
    face = _FACES.get(address)
    if face is None:
        face = _FACES[address] = _Face(hb_face, content)
        while len(_FACES) > _FACES_KEPT:
            gone, _ = _FACES.popitem(last=False)
            for key in [key for key in _SUBSETS if key[0] == gone]:
                del _SUBSETS[key]
    else:
        _FACES.move_to_end(address)
    return address, face


def _hb_object_data(hb_object, ot_color=None, glyph=None):
    """``get_hb_object_data`` for ``Font.__init__``: a kept face's bytes are the same
    bytes object each time, not a copy of the font file (1.7 MB a letter)."""
    if ot_color is None and glyph is None:
        with _fonts_lock:
            face = _FACES.get(_address(hb_object))
            if face is not None and face.content is not None:
                return face.content
    return _original_hb_object_data(hb_object, ot_color, glyph)


def _font_init(self, *args, **kwargs):
    """``Font.__init__``, its face kept with its bytes (see :func:`_hb_object_data`)."""
    _original_font_init(self, *args, **kwargs)
    self.ceroc_face_content = self.file_content
    if self.file_content is not None:
        with _fonts_lock:
            _face(self.hb_face, self.file_content)


def _harfbuzz_subset(self, to_unicode, hinting):
    """``Font._harfbuzz_subset`` from HarfBuzz's preprocessed face, and the subset made
    before for the same face, glyphs and flags reused (a batch's letters mostly use the
    same glyphs). A font whose bytes changed since it was loaded (a variable font
    instanced, emoji removed) is subset as WeasyPrint does."""
    if self.file_content is not getattr(self, "ceroc_face_content", None) or (
        harfbuzz_subset is None or not hasattr(harfbuzz_subset, "hb_subset_preprocess")
    ):
        return _original_subset(self, to_unicode, hinting)
    with _fonts_lock:
        address, face = _face(self.hb_face)
        ready = face.preprocessed()
        key = (address, self.index, tuple(sorted(to_unicode)), bool(hinting), bool(self.missing))
        subset = _SUBSETS.get(key)
        if subset is not None:
            _SUBSETS.move_to_end(key)
            self.file_content = subset
            return None
    face, self.hb_face = self.hb_face, ready or self.hb_face
    try:
        _original_subset(self, to_unicode, hinting)
    finally:
        self.hb_face = face
    if self.file_content is not self.ceroc_face_content:  # else HarfBuzz failed, and said so
        with _fonts_lock:
            if address in _FACES:
                _SUBSETS[key] = self.file_content
                while len(_SUBSETS) > _SUBSETS_KEPT:
                    _SUBSETS.popitem(last=False)
    return None


#: Pango contexts by (font map, direction, language): a context is made once, not for
#: each of a letter's ~165 text layouts. Each holds a reference to its font map, so no
#: other font map can take that address while the context is kept.
_CONTEXTS: OrderedDict[tuple, object] = OrderedDict()
_CONTEXTS_KEPT = 64
_contexts_lock = threading.Lock()


def _layout_setup(self, style):
    """``Layout.setup`` of WeasyPrint 70.0, its Pango context taken from
    :data:`_CONTEXTS` (the same base direction and language as a new one would get:
    nothing else ever changes a context)."""
    self.style = style
    self.first_line_direction = 0

    font_map = style.font_config.font_map

    if style["font_language_override"] != "normal":
        lang = LST_TO_ISO.get(
            style["font_language_override"].lower(), style["font_language_override"]
        )
    elif style["lang"]:
        lang = style["lang"]
    else:
        lang = None
    if lang:
        lang_p, _ = unicode_to_char_p(lang)
        self.language = pango.pango_language_from_string(lang_p)
    else:
        self.language = pango.pango_language_get_default()
    key = (int(ffi.cast("uintptr_t", font_map)), style["direction"], lang)
    with _contexts_lock:
        pango_context = _CONTEXTS.get(key)
        if pango_context is None:
            pango_context = ffi.gc(
                pango.pango_font_map_create_context(font_map), gobject.g_object_unref
            )
            pango.pango_context_set_round_glyph_positions(pango_context, False)
            pango.pango_context_set_base_dir(pango_context, PANGO_DIRECTION[style["direction"]])
            if lang:
                pango.pango_context_set_language(pango_context, self.language)
            _CONTEXTS[key] = pango_context
            while len(_CONTEXTS) > _CONTEXTS_KEPT:
                _CONTEXTS.popitem(last=False)
        else:
            _CONTEXTS.move_to_end(key)

    assert not isinstance(style["font_family"], str), "font_family should be a list"
    font_description = get_font_description(style)
    self.layout = ffi.gc(pango.pango_layout_new(pango_context), gobject.g_object_unref)
    pango.pango_layout_set_auto_dir(self.layout, False)
    pango.pango_layout_set_font_description(self.layout, font_description)

    text_decoration = style["text_decoration_line"]
    if text_decoration != "none":
        metrics = ffi.gc(
            pango.pango_context_get_metrics(pango_context, font_description, self.language),
            pango.pango_font_metrics_unref,
        )
        self.ascent = FROM_UNITS * (pango.pango_font_metrics_get_ascent(metrics))
        self.underline_position = FROM_UNITS * (
            pango.pango_font_metrics_get_underline_position(metrics)
        )
        self.strikethrough_position = FROM_UNITS * (
            pango.pango_font_metrics_get_strikethrough_position(metrics)
        )
        self.underline_thickness = FROM_UNITS * (
            pango.pango_font_metrics_get_underline_thickness(metrics)
        )
        self.strikethrough_thickness = FROM_UNITS * (
            pango.pango_font_metrics_get_strikethrough_thickness(metrics)
        )
    else:
        self.ascent = None
        self.underline_position = None
        self.strikethrough_position = None

    features = font_features(
        style["font_kerning"], style["font_variant_ligatures"],
        style["font_variant_position"], style["font_variant_caps"],
        style["font_variant_numeric"], style["font_variant_alternates"],
        style["font_variant_east_asian"], style["font_feature_settings"],
    )  # fmt: skip
    if features:
        features = ",".join(f"{key} {value}" for key, value in features.items()).encode()
        # In the meantime, keep a cache to avoid leaking too many of them.
        attr = style.font_config.font_features.setdefault(
            features, pango.pango_attr_font_features_new(features)
        )
        attr_list = pango.pango_attr_list_new()
        pango.pango_attr_list_insert(attr_list, attr)
        pango.pango_layout_set_attributes(self.layout, attr_list)


@functools.cache  # sources do not change while the process runs
def _sources() -> dict[str, str]:
    return {
        "weasyprint.css.ComputedStyle.__missing__": inspect.getsource(_original_missing),
        "weasyprint.css.AnonymousStyle.__missing__": inspect.getsource(_original_anonymous_missing),
        "weasyprint.layout.percent": inspect.getsource(percent),
        "weasyprint.pdf.fonts.Font": inspect.getsource(pdf_fonts.Font),
        "weasyprint.text.fonts.get_hb_object_data": inspect.getsource(_original_hb_object_data),
        "weasyprint.text.line_break.Layout.setup": inspect.getsource(_original_setup),
    }


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each WeasyPrint function these shortcuts copy."""
    return pins.digests(_sources())


def installed() -> bool:
    return css.ComputedStyle.__missing__ is _computed_missing


def install() -> None:
    """Put the shortcuts in (idempotent); raise if WeasyPrint is not the one checked."""
    if installed():
        return
    pins.require(
        "fastpaths", "WeasyPrint", WEASYPRINT_VERSION, weasyprint.__version__,
        pins.changed(PATCHED, source_digests()),
        "check the shortcuts still give the same values, or drop them",
    )  # fmt: skip
    _swap(original=False)


def uninstall() -> None:
    """Give WeasyPrint back its own functions."""
    _swap(original=True)


def _replaced() -> list[tuple[object, str, object, object]]:
    """(owner, attribute, WeasyPrint's, ours) for everything :func:`install` replaces."""
    return [
        (css.ComputedStyle, "__missing__", _original_missing, _computed_missing),
        (css.AnonymousStyle, "__missing__", _original_anonymous_missing, _anonymous_missing),
        (pdf_fonts.Font, "__init__", _original_font_init, _font_init),
        (pdf_fonts, "get_hb_object_data", _original_hb_object_data, _hb_object_data),
        (pdf_fonts.Font, "_harfbuzz_subset", _original_subset, _harfbuzz_subset),
        (line_break.Layout, "setup", _original_setup, _layout_setup),
        *((sys.modules[name], "resolve_percentages", _original_resolve, _resolve_percentages)
          for name in _RESOLVE_USERS),
    ]  # fmt: skip


def _swap(*, original: bool) -> None:
    for owner, name, theirs, ours in _replaced():
        setattr(owner, name, theirs if original else ours)
