"""QR codes drawn as inline SVG, for the verification link in a letter's footer.

The SVG goes into the letter's HTML as markup: WeasyPrint fetches nothing for it (its URL
fetcher refuses ``data:`` and any file that is not one of the letter's own).

segno chooses each code's data mask with :mod:`ceroc_donations.rendering.qrmask` (the
same mask and modules; a code in ~0.35 ms rather than ~1.95 ms), installed at import below.
"""

from __future__ import annotations

from functools import lru_cache

import segno
from markupsafe import Markup

from ceroc_donations.rendering import qrmask

qrmask.install()

#: Error correction M (15% of the code may be damaged: a fold, a stain) keeps a letter's
#: link of ~45 characters at version 3 (29 × 29 modules), large enough in a small footer.
ERROR_LEVEL = "m"
#: No quiet zone in the drawing: the footer's layout keeps blank paper around the code.
BORDER = 0


@lru_cache(maxsize=256)
def qr_svg(text: str) -> Markup:
    """An ``<svg class="qr">`` of *text* with a viewBox only: CSS sets its printed size.

    The same text always gives the same markup (letters re-render byte for byte).
    """
    code = segno.make(text, error=ERROR_LEVEL, micro=False, boost_error=False)
    svg = code.svg_inline(border=BORDER, omitsize=True, svgclass="qr", lineclass=None)
    return Markup(svg)
