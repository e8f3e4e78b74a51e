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

While installed, pydyf's ``_to_bytes`` (called some 10,000 times a letter, for every
operand and operator) looks at an item's exact type first: the same bytes for every
item, 1.3 ms less a letter (8 % of writing one).

The fix belongs in pydyf (cache in ``Stream.data`` or hash the bytes already written);
until it is there, :func:`install` refuses any pydyf but the one it was checked on.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
import zlib

import pydyf

__all__ = ["PATCHED", "PYDYF_VERSION", "install", "installed", "uninstall"]

#: The pydyf release this patch was checked on (pinned in pyproject.toml).
PYDYF_VERSION = "0.13.0"

#: SHA-256 of the source of what this patch wraps, as pydyf 0.13.0 ships it.
PATCHED = {
    "pydyf.Stream.data": "bdc2bc513f286de7b7a7220a43e6085daa6ed0056d9c04e3c9b5abe40f3ecf81",
    "pydyf.PDF.write": "242cd38f92ecd33f831159f8eb560487bf2e18d746ff8a7666954f2a8d519ba0",
    "pydyf._to_bytes": "1cefd02c285d3aee7ad09bf6e5be50b2b7bd6956dec69829790e64f5255e0009",
}

#: zlib level for page, font and image streams. pydyf uses 9; 6 (zlib's default) deflates
#: a letter in about a quarter of the time for ~3 % more bytes. 9 gives pydyf's bytes.
COMPRESSION_LEVEL = 6

_original_data = pydyf.Stream.data
_original_write = pydyf.PDF.write
_original_to_bytes = pydyf._to_bytes
_local = threading.local()


def _sources() -> dict[str, str]:
    return {
        "pydyf.Stream.data": inspect.getsource(_original_data.fget),
        "pydyf.PDF.write": inspect.getsource(_original_write),
        "pydyf._to_bytes": inspect.getsource(_original_to_bytes),
    }


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each pydyf function this patch depends on."""
    return {name: hashlib.sha256(src.encode()).hexdigest() for name, src in _sources().items()}


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


def _deflated(self) -> bytes:
    """pydyf 0.13.0's ``Stream.data`` at :data:`COMPRESSION_LEVEL`."""
    if COMPRESSION_LEVEL == 9:
        return _original_data.fget(self)
    stream = b"\n".join([_to_bytes(item) for item in self.stream])
    extra = pydyf.Dictionary(self.extra.copy())
    if self.compress:
        extra["Filter"] = "/FlateDecode"
        compressobj = zlib.compressobj(level=COMPRESSION_LEVEL)
        stream = compressobj.compress(stream)
        stream += compressobj.flush()
    extra["Length"] = len(stream)
    return b"\n".join((extra.data, b"stream", stream, b"endstream"))


def _data(self) -> bytes:
    cache = getattr(_local, "cache", None)
    if cache is None:
        return _deflated(self)
    entry = cache.get(id(self))
    if entry is None or entry[0] is not self:
        data = _deflated(self)
        cache[id(self)] = (self, data)  # the stream is kept alive while its id is a key
        return data
    return entry[1]


def _write(self, *args, **kwargs):
    previous = getattr(_local, "cache", None)
    _local.cache = {}
    try:
        return _original_write(self, *args, **kwargs)
    finally:
        _local.cache = previous


_cached_data = property(_data, doc=_original_data.__doc__)


def installed() -> bool:
    """Whether pydyf compresses each stream once per write."""
    return pydyf.PDF.write is _write


def install() -> None:
    """Patch pydyf (idempotent); raise if it is not the version checked here."""
    if installed():
        return
    changed = [name for name, digest in source_digests().items() if digest != PATCHED[name]]
    if pydyf.__version__ != PYDYF_VERSION or changed:
        raise RuntimeError(
            f"ceroc_donations.rendering.pdfwrite is a patch of pydyf {PYDYF_VERSION}, found "
            f"{pydyf.__version__} (changed: {', '.join(changed) or 'version only'}); "
            "check it still applies, or drop it if pydyf compresses once"
        )
    pydyf.Stream.data = _cached_data
    pydyf.PDF.write = _write
    pydyf._to_bytes = _to_bytes


def uninstall() -> None:
    """Give pydyf back its own ``Stream.data``, ``PDF.write`` and ``_to_bytes``."""
    pydyf.Stream.data = _original_data
    pydyf.PDF.write = _original_write
    pydyf._to_bytes = _original_to_bytes
