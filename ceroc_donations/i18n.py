"""Locale choice and the template helpers that format money and dates for it."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from babel.dates import format_date
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
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
    return str(get_locale() or "en")


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
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["day"] = date_filter
    app.jinja_env.filters["khmer_digits"] = to_khmer_digits
    app.jinja_env.globals["locale_code"] = locale_code
    app.jinja_env.globals["localized"] = localized
