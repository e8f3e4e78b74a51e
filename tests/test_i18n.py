"""Khmer and English: the catalogue is complete and the pages follow the chosen language.

When a test here fails after new pages were added, run
``flask --app ceroc_donations translations update``, translate the msgids it lists in
ceroc_donations/translations/km/LC_MESSAGES/messages.po, then ``translations compile``.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from ceroc_donations.accounts.models import ROLES, User
from ceroc_donations.book.models import EXPENSE_CATEGORIES, METHODS
from ceroc_donations.extensions import db
from ceroc_donations.i18n import DYNAMIC_MSGIDS, date_filter, select_locale
from tests.conftest import contribution_form

ROOT = Path(__file__).resolve().parent.parent
KM_DIR = ROOT / "ceroc_donations" / "translations" / "km" / "LC_MESSAGES"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)")
KHMER = re.compile(r"[\u1780-\u17ff]")


def extracted_msgids() -> dict[str, str]:
    """Every msgid marked in ceroc_donations/ and templates/, as pybabel sees them."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f, str(ROOT / "babel.cfg"))
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        # A plural (ngettext) entry is filed under its singular msgid.
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def km_catalogue():
    with open(KM_DIR / "messages.po", "rb") as f:
        return read_po(f, locale="km")


def test_extraction_finds_the_pages_and_views():
    found = extracted_msgids()
    assert "Contributions" in found  # a template
    assert "Email or password is not right." in found  # a view
    assert "Enter an amount." in found  # a service message (N_ in money.py)


def test_every_marked_string_has_a_khmer_translation():
    catalogue = km_catalogue()
    missing = []
    for msgid, where in sorted(extracted_msgids().items()):
        message = catalogue.get(msgid)
        strings = (
            message.string
            if message and message.pluralizable
            else (message.string if message else "",)
        )
        if message is None or not all(strings) or message.fuzzy:
            state = "missing" if message is None else "fuzzy" if message.fuzzy else "empty"
            missing.append(f"  {state}: {msgid!r} ({where})")
    assert not missing, (
        f"{len(missing)} msgid(s) without Khmer; run `flask --app ceroc_donations translations "
        "update`, translate them in km/LC_MESSAGES/messages.po, then `translations compile`:\n"
        + "\n".join(missing)
    )


def test_dynamic_values_shown_through_gettext_are_in_the_catalogue():
    catalogue = km_catalogue()
    values = [*ROLES, *EXPENSE_CATEGORIES, *(m.replace("_", " ") for m in METHODS)]
    assert set(values) <= set(DYNAMIC_MSGIDS)
    for value in values:
        assert catalogue.get(value) and catalogue.get(value).string, value


def test_placeholders_match_in_every_translation():
    wrong = []
    for message in km_catalogue():
        if not message.id or not message.string:
            continue
        # A plural entry: every form must carry the singular's placeholders.
        msgid = message.id[0] if message.pluralizable else message.id
        strings = message.string if message.pluralizable else (message.string,)
        for string in strings:
            if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(string)):
                wrong.append(f"  {msgid!r} -> {string!r}")
            elif string.count("%") != msgid.count("%"):
                wrong.append(f"  stray %: {msgid!r} -> {string!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def _key(value):
    """A plural entry's id and strings come as a list from read_mo, a tuple from read_po."""
    return tuple(value) if isinstance(value, list | tuple) else value


def test_compiled_catalogue_is_up_to_date():
    """The .mo is committed (a fresh clone needs no compile step): it must match the .po."""
    with open(KM_DIR / "messages.mo", "rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    source = {
        _key(m.id): _key(m.string) for m in km_catalogue() if m.id and m.string and not m.fuzzy
    }
    assert compiled == source, (
        "messages.mo is stale: run `flask --app ceroc_donations translations compile`"
    )


def test_translations_directory_resolves_inside_the_package(app):
    assert app.extensions["babel"].translation_directories == [
        str(ROOT / "ceroc_donations" / "translations")
    ]


def test_translations_cli_group_is_registered(runner):
    result = runner.invoke(args=["translations", "--help"])
    assert result.exit_code == 0
    for command in ("update", "compile", "init"):
        assert command in result.output


def test_locale_outside_a_request_is_the_default(app):
    with app.app_context():
        assert select_locale() == "en"
        from flask_babel import gettext

        assert gettext("Enter an amount.") == "Enter an amount."


# -- pages ------------------------------------------------------------------------------


@pytest.fixture
def entries(app):
    """A fund, a donor, a contribution on 15 June 2014 and a printing expense."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        general = svc.create_fund("general", "General", by=user)
        donor = svc.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
        svc.record_contribution(
            parse_contribution(contribution_form(donor.id, general.id)), by=user
        )
        svc.record_expense(
            parse_expense(
                {
                    "paid_on": "2014-11-27",
                    "payee": "Print shop",
                    "amount": "120",
                    "currency": "USD",
                    "category": "printing",
                    "fund_id": str(general.id),
                }
            ),
            by=user,
        )
        db.session.commit()
        return general.id


def choose(client, lang: str, next_url: str = "/"):
    response = client.post("/language", data={"lang": lang, "next": next_url})
    assert response.status_code == 302
    return response


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_english_by_default(client):
    html = page(client, "/login")
    assert '<html lang="en">' in html
    assert "Log in" in html and "ចូលប្រើ" not in html


def test_accept_language_km_gives_khmer_login_page(client):
    html = client.get("/login", headers={"Accept-Language": "km-KH,km;q=0.9,en;q=0.5"}).get_data(
        as_text=True
    )
    assert '<html lang="km">' in html
    assert "ចូលប្រើ" in html  # Log in
    assert "ពាក្យសម្ងាត់" in html  # Password


def test_switch_language_renders_pages_in_khmer(client, auth, entries):
    auth.login("treasurer")
    choose(client, "km")
    dashboard = page(client, "/")
    assert '<html lang="km">' in dashboard
    assert "ទំព័រដើម" in dashboard  # Dashboard, in the menu
    assert "(ហេរញ្ញិក)" in dashboard  # the role, through _(current_user.role)
    assert "ចាកចេញ" in dashboard  # Log out
    contributions = page(client, "/contributions/")
    assert "កត់ត្រាការបរិច្ចាគ" in contributions  # Record a contribution
    assert "មិនទាន់ថ្លែងអំណរគុណ" in contributions  # not thanked
    expenses = page(client, "/expenses/")
    assert "ការបោះពុម្ព" in expenses  # the category "printing"
    assert "Contributions" not in contributions.split("<main")[1]
    choose(client, "en")
    assert '<html lang="en">' in page(client, "/")


def test_dates_in_khmer_use_khmer_month_names_and_latin_digits(client, auth, entries):
    auth.login("treasurer")
    choose(client, "km")
    assert "15 មិថុនា 2014" in page(client, "/contributions/")
    assert "27 វិច្ឆិកា 2014" in page(client, "/expenses/")
    choose(client, "en")
    assert "15 Jun 2014" in page(client, "/contributions/")


def test_date_filter_per_locale(app):
    with app.test_request_context(headers={"Accept-Language": "km"}):
        assert date_filter(date(2026, 11, 27)) == "27 វិច្ឆិកា 2026"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert date_filter(date(2026, 11, 27)) == "27 Nov 2026"


def test_choice_is_remembered_per_user(app, client, auth):
    auth.login("board")
    choose(client, "km")
    auth.logout()
    # The session is cleared at log-out: the login page is English again for this browser,
    login = page(client, "/login")
    assert '<html lang="en">' in login
    auth.login("board")
    assert '<html lang="km">' in page(client, "/")
    # and a different browser signing in as the same person gets Khmer too.
    other = app.test_client()
    other.post("/login", data={"email": "board@test.example", "password": "correct-horse-battery"})
    assert '<html lang="km">' in other.get("/").get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.execute(
                select(User.locale).where(User.email == "board@test.example")
            ).scalar()
            == "km"
        )


def test_user_choice_beats_accept_language(client, auth):
    auth.login("member")
    choose(client, "en")
    html = client.get("/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert '<html lang="en">' in html


def test_field_errors_follow_the_page_language(client, auth, entries):
    auth.login("treasurer")
    choose(client, "km")
    response = client.post(
        "/expenses/new",
        data={
            "paid_on": "2014-11-27",
            "payee": "",
            "amount": "0",
            "currency": "USD",
            "category": "printing",
            "fund_id": str(entries),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "ចំនួនទឹកប្រាក់ត្រូវតែធំជាង 0។" in html  # Amount must be greater than 0.
    assert "សូមបញ្ចូលឈ្មោះអ្នកទទួលប្រាក់។" in html  # Enter who was paid.


def test_unknown_language_is_ignored(client, auth):
    auth.login("member")
    choose(client, "fr")
    assert '<html lang="en">' in page(client, "/")
