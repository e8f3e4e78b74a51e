"""Compress each PDF stream once: a patch of pydyf 0.13.0 that belongs upstream.

For a file identifier (PDF/A asks for one) ``pydyf.PDF.write`` hashes every object's
``data`` again after writing it, and ``Stream.data`` deflates its content at level 9
each time it is read: every page, font and image is compressed twice, about 9% of a
letter. While one ``PDF.write`` runs, this module keeps each stream's bytes the first
time they are made and hands the same bytes back the second time, so at level 9 the
output is byte for byte what pydyf writes alone (``tests/test_pdfwrite.py`` compares
them). Outside a ``write`` nothing is cached, so a stream changed between two writes is
compressed anew. It also deflates at :data:`COMPRESSION_LEVEL` (6, zlib's default)
rather than pydyf's 9: the same content, a quarter of the deflating time.

Dictionaries and arrays are serialised once per ``write`` too (the identifier hashes
them again), and a large one-piece stream (a font file) is deflated once per process
while the same bytes object comes back: :mod:`.fastpaths` hands each letter of a batch
the very subset it made for the letter before when the glyphs are the same.

While installed, pydyf's ``_to_bytes`` (called some 10,000 times a letter, for every
operand and operator) looks at an item's exact type first: the same bytes for every
item, 1.3 ms less a letter (8 % of writing one).

The fix belongs in pydyf (cache in ``Stream.data`` or hash the bytes already written);
until it is there, :func:`install` refuses any pydyf but the one it was checked on.
"""

from __future__ import annotations

import functools
import inspect
import threading
import zlib
from collections import OrderedDict

import pydyf

from ceroc_donations.rendering import pins

__all__ = ["PATCHED", "PYDYF_VERSION", "install", "installed", "uninstall"]

#: The pydyf release this patch was checked on (pinned in pyproject.toml).
PYDYF_VERSION = "0.13.0"

#: SHA-256 of the source of what this patch wraps, as pydyf 0.13.0 ships it.
PATCHED = {
    "pydyf.Stream.data": "bdc2bc513f286de7b7a7220a43e6085daa6ed0056d9c04e3c9b5abe40f3ecf81",
    "pydyf.PDF.write": "242cd38f92ecd33f831159f8eb560487bf2e18d746ff8a7666954f2a8d519ba0",
    "pydyf._to_bytes": "1cefd02c285d3aee7ad09bf6e5be50b2b7bd6956dec69829790e64f5255e0009",
    "pydyf.Dictionary.data": "1a6ebf2b6bc6adcb35017ee398cd7f7d71247dd2828a3051137d2a7abb87388c",
    "pydyf.Array.data": "136a84494ae7c8cc344c683281a1e1e56dd478de907ff7ff9d74debe90b8a400",
}

#: zlib level for page, font and image streams. pydyf uses 9; 6 (zlib's default) deflates
#: a letter in about a quarter of the time for ~3 % more bytes. 9 gives pydyf's bytes.
COMPRESSION_LEVEL = 6

_original_data = pydyf.Stream.data
_original_write = pydyf.PDF.write
_original_to_bytes = pydyf._to_bytes
_original_dictionary_data = pydyf.Dictionary.data
_original_array_data = pydyf.Array.data
_local = threading.local()
_deflated_lock = threading.Lock()


@functools.cache  # sources do not change while the process runs
def _sources() -> dict[str, str]:
    return {
        "pydyf.Stream.data": inspect.getsource(_original_data.fget),
        "pydyf.PDF.write": inspect.getsource(_original_write),
        "pydyf._to_bytes": inspect.getsource(_original_to_bytes),
        "pydyf.Dictionary.data": inspect.getsource(_original_dictionary_data.fget),
        "pydyf.Array.data": inspect.getsource(_original_array_data.fget),
    }


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each pydyf function this patch depends on."""
    return pins.digests(_sources())


def _to_bytes(item) -> bytes:
    """pydyf 0.13.0's ``_to_bytes``, the common exact types first (no ``isinstance``
    chain): bytes as they are, text and integers as ASCII, floats as pydyf writes them."""
    kind = type(item)
    if kind is bytes:
        return item
    if kind is str:
        return item.encode("ascii")
    if kind is float:
        if item.is_integer():
            return str(int(item)).encode("ascii")
        return f"{item:f}".rstrip("0").encode("ascii")
    if kind is int:
        return str(item).encode("ascii")
    return _original_to_bytes(item)


#: Deflated bytes of large one-piece streams (font files), by the piece they deflate:
#: id → (piece, level, deflated). A font subset reused across letters (see
#: :mod:`.fastpaths`) is the same bytes object each time, and deflated once.
_DEFLATED: OrderedDict[int, tuple[bytes, int, bytes]] = OrderedDict()
_DEFLATED_KEPT = 64
_DEFLATED_FROM = 4096


def _deflate(stream: bytes) -> bytes:
    compressobj = zlib.compressobj(level=COMPRESSION_LEVEL)
    return compressobj.compress(stream) + compressobj.flush()


def _deflate_piece(piece: bytes) -> bytes:
    """:func:`_deflate` of a large one-piece stream, kept for the next letter."""
    with _deflated_lock:
        entry = _DEFLATED.get(id(piece))
        if entry is not None and entry[0] is piece and entry[1] == COMPRESSION_LEVEL:
            _DEFLATED.move_to_end(id(piece))
            return entry[2]
    deflated = _deflate(piece)
    with _deflated_lock:
        _DEFLATED[id(piece)] = (piece, COMPRESSION_LEVEL, deflated)  # keeps the id taken
        while len(_DEFLATED) > _DEFLATED_KEPT:
            _DEFLATED.popitem(last=False)
    return deflated


def _deflated(self) -> bytes:
    """pydyf 0.13.0's ``Stream.data`` at :data:`COMPRESSION_LEVEL`."""
    if COMPRESSION_LEVEL == 9:
        return _original_data.fget(self)
    items = self.stream
    extra = pydyf.Dictionary(self.extra.copy())
    piece = items[0] if len(items) == 1 else None
    if self.compress and type(piece) is bytes and len(piece) >= _DEFLATED_FROM:
        extra["Filter"] = "/FlateDecode"
        stream = _deflate_piece(piece)
    else:
        stream = b"\n".join([_to_bytes(item) for item in items])
        if self.compress:
            extra["Filter"] = "/FlateDecode"
            stream = _deflate(stream)
    extra["Length"] = len(stream)
    return b"\n".join((extra.data, b"stream", stream, b"endstream"))


def _kept(make):
    """*make*'s bytes of an object, made once per :func:`_write`."""

    def data(self) -> bytes:
        cache = getattr(_local, "cache", None)
        if cache is None:
            return make(self)
        entry = cache.get(id(self))
        if entry is None or entry[0] is not self:
            data = make(self)
            cache[id(self)] = (self, data)  # the object is kept alive while its id is a key
            return data
        return entry[1]

    return data


_data = _kept(_deflated)


def _write(self, *args, **kwargs):
    previous = getattr(_local, "cache", None)
    _local.cache = {}
    try:
        return _original_write(self, *args, **kwargs)
    finally:
        _local.cache = previous


_cached_data = property(_data, doc=_original_data.__doc__)
_cached_dictionary_data = property(_kept(_original_dictionary_data.fget))
_cached_array_data = property(_kept(_original_array_data.fget))


def installed() -> bool:
    """Whether pydyf compresses each stream once per write."""
    return pydyf.PDF.write is _write


def install() -> None:
    """Patch pydyf (idempotent); raise if it is not the version checked here."""
    if installed():
        return
    pins.require(
        "pdfwrite", "pydyf", PYDYF_VERSION, pydyf.__version__,
        pins.changed(PATCHED, source_digests()),
        "check it still applies, or drop it if pydyf compresses once",
    )  # fmt: skip
    pydyf.Stream.data = _cached_data
    pydyf.Dictionary.data = _cached_dictionary_data
    pydyf.Array.data = _cached_array_data
    pydyf.PDF.write = _write
    pydyf._to_bytes = _to_bytes


def uninstall() -> None:
    """Give pydyf back its own ``Stream.data``, ``PDF.write`` and ``_to_bytes``."""
    pydyf.Stream.data = _original_data
    pydyf.Dictionary.data = _original_dictionary_data
    pydyf.Array.data = _original_array_data
    pydyf.PDF.write = _original_write
    pydyf._to_bytes = _original_to_bytes
