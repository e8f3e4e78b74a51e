"""Countries as ISO 3166-1 alpha-2 codes, named in the page's language from Babel's CLDR data."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale

#: CLDR names these two-letter regions too, but ISO 3166-1 gives them no country code
#: (reserved or user-assigned: Ascension, the EU, Kosovo, "unknown region", ...).
_NOT_ISO_3166 = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
)

#: Every ISO 3166-1 alpha-2 country code (249 of them).
COUNTRY_CODES = frozenset(
    code
    for code in Locale("en").territories
    if len(code) == 2 and code.isalpha() and code not in _NOT_ISO_3166
)


def is_country(code: str | None) -> bool:
    """True for an ISO 3166-1 alpha-2 code in capitals, such as ``US`` or ``KH``."""
    return code in COUNTRY_CODES


@lru_cache(maxsize=8)
def country_options(locale: str) -> tuple[tuple[str, str], ...]:
    """(code, name) for every country, named and sorted in *locale* (``en`` or ``km``)."""
    names = Locale.parse(locale).territories
    english = Locale("en").territories
    return tuple(
        sorted(
            ((code, names.get(code) or english[code]) for code in COUNTRY_CODES),
            key=lambda option: option[1].casefold(),
        )
    )


def country_name(code: str | None, locale: str = "en") -> str:
    """The country's name in *locale*; the code itself when it is not a known country."""
    if not code:
        return ""
    return dict(country_options(locale)).get(code, code)


def country_choices(locale: str, current: str | None = None) -> list[tuple[str, str]]:
    """Options for a country select: none, then every country as "Name (CODE)"; a stored
    code that names no country stays listed (as itself) so that it is not lost unseen."""
    choices = [("", "—")]
    if current and current not in COUNTRY_CODES:
        choices.append((current, current))
    choices += [(code, f"{name} ({code})") for code, name in country_options(locale)]
    return choices
