"""The font files letters and reports are set in. No WeasyPrint here: pages import this."""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/truetype")

#: The font files letters are set in (Debian packages fonts-noto-core, fonts-khmeros).
FONT_FILES: dict[str, Path] = {
    "khmer": FONT_DIR / "noto" / "NotoSerifKhmer-Regular.ttf",
    "khmer_bold": FONT_DIR / "noto" / "NotoSerifKhmer-Bold.ttf",
    "serif": FONT_DIR / "noto" / "NotoSerif-Regular.ttf",
    "serif_bold": FONT_DIR / "noto" / "NotoSerif-Bold.ttf",
    "muol": FONT_DIR / "khmeros" / "KhmerOSmuollight.ttf",
}

#: CSS family, weight and FONT_FILES key of each ``@font-face``. Regular and bold of a
#: family always come from the same type family: mixing families under one CSS name
#: made WeasyPrint pick glyphs of the wrong font (``$`` printed as ``"``).
FONT_FACES: tuple[tuple[str, str, str], ...] = (
    ("CEROC Khmer", "normal", "khmer"),
    ("CEROC Khmer", "bold", "khmer_bold"),
    ("CEROC Serif", "normal", "serif"),
    ("CEROC Serif", "bold", "serif_bold"),
    ("CEROC Muol", "normal", "muol"),
)
