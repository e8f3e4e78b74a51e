"""Locale choice and the template helpers that format money and dates for it."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from babel.dates import format_date
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user

from ceroc_donations.money import Money, format_money, format_plain, to_khmer_digits


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is shown."""
    return message


#: Values stored in the database and shown through ``_(value)`` in templates (roles,
#: expense categories, payment methods with ``_`` as a space): pybabel cannot see
#: dynamic msgids, so they are declared here to be in the catalogue.
DYNAMIC_MSGIDS = (
    N_("admin"),
    N_("treasurer"),
    N_("board"),
    N_("member"),
    N_("promotion"),
    N_("printing"),
    N_("travel"),
    N_("events"),
    N_("fees"),
    N_("other"),
    N_("cash"),
    N_("cheque"),
    N_("bank transfer"),
    N_("online"),
    N_("in kind"),
    N_("contribution"),
)


def select_locale() -> str:
    """The signed-in user's choice, then this browser's, then Accept-Language."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI and background work: messages in the default
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def locale_code() -> str:
    """The page's language code (``en``, ``km``).

    A list page asks for it a few times a row: it is kept beside the locale Flask-Babel
    chose for the request, and asked again only when that locale object changes
    (``force_locale``, ``refresh``), at one lookup of ``g`` a call instead of several.
    """
    try:
        chosen = g._flask_babel
    except (AttributeError, RuntimeError):  # nothing chosen yet, or no app context
        return str(get_locale() or "en")
    cached = getattr(chosen, "ceroc_code", None)
    locale = getattr(chosen, "babel_locale", None)
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    code = str(get_locale() or "en")
    chosen.ceroc_code = (getattr(chosen, "babel_locale", None), code)
    return code


def translations():
    """The request's catalogue, as Flask-Babel's ``get_translations()`` gives it.

    A page's template translates forty-odd texts; Flask-Babel looks the catalogue up again
    for each (about 20 µs). It is kept beside the request's locale instead, and looked up
    again when that locale object changes (``force_locale``, ``refresh``).
    """
    try:
        chosen = g._flask_babel
    except (AttributeError, RuntimeError):
        return get_translations()
    cached = getattr(chosen, "ceroc_translations", None)
    locale = getattr(chosen, "babel_locale", None)
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    found = get_translations()
    chosen.ceroc_translations = (getattr(chosen, "babel_locale", None), found)
    return found


def localized(en: str | None, km: str | None) -> str | None:
    """A text kept in both languages, for the page: *km* on a Khmer page when it is
    given, else *en* (an occasion, a purpose, a fund's name or description); *km* when
    only it was written, whatever the page's language."""
    return km if km and (locale_code() == "km" or not en) else en


def money_filter(value: Money | None, plain: bool = False) -> str:
    """Money for tables (Latin digits, they line up) in the page's locale."""
    if value is None:
        return ""
    return _money_text(value, locale_code(), plain)


# Babel's formatting costs ~0.2 ms a call, a few dozen a list page; amounts repeat.
@lru_cache(maxsize=8192)
def _money_text(value: Money, locale: str, plain: bool) -> str:
    if plain:
        return format_plain(value, locale)
    return format_money(value, "en" if locale == "en" else "km_KH").translate(
        str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
    )


def date_filter(value: date | None, style: str = "medium") -> str:
    """``27 Nov 2026``; in Khmer ``27 វិច្ឆិកា 2026`` (Latin digits on screen)."""
    if value is None:
        return ""
    return _date_text(value, style, locale_code())


@lru_cache(maxsize=8192)
def _date_text(value: date, style: str, locale: str) -> str:
    if locale == "km":
        return format_date(value, "d MMMM y", locale="km")
    return format_date(value, "d MMM y" if style == "medium" else "d MMMM y", locale="en")


def init_i18n(app: Flask, babel) -> None:
    # Relative to app.root_path, i.e. ceroc_donations/translations.
    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories="translations"
    )
    # The same callables Flask-Babel installs, on the request's cached catalogue.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["day"] = date_filter
    app.jinja_env.filters["khmer_digits"] = to_khmer_digits
    app.jinja_env.globals["locale_code"] = locale_code
    app.jinja_env.globals["localized"] = localized
