"""The one rule for our patches of other packages: they install only on the release, and
the very source, they were checked on (``pdfwrite``, ``fastpaths``, ``svgpath``,
``qrmask``, ``actualtext``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def digests(sources: Mapping[str, str]) -> dict[str, str]:
    """SHA-256 of each source text, by name."""
    return {name: hashlib.sha256(src.encode()).hexdigest() for name, src in sources.items()}


def changed(pinned: Mapping[str, str], found: Mapping[str, str]) -> list[str]:
    """The names whose digest *found* differs from the *pinned* one."""
    return [name for name, digest in found.items() if digest != pinned[name]]


def require(
    module: str, package: str, pinned: str, found: str, changes: list[str], advice: str
) -> None:
    """Raise :class:`RuntimeError` unless *package* is at the *pinned* release with no
    *changes*: ``<module> is a patch of <package> <pinned>, found <found> (changed: …)``."""
    if found != pinned or changes:
        raise RuntimeError(
            f"ceroc_donations.rendering.{module} is a patch of {package} {pinned}, found "
            f"{found} (changed: {', '.join(changes) or 'version only'}); {advice}"
        )
