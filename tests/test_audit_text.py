"""The audit log reads like sentences: references not ids, links, only what changed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from ceroc_donations import audit
from ceroc_donations.accounts.audit_text import GENERIC, SENTENCES, describe
from ceroc_donations.accounts.models import AuditEvent
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_contribution, parse_expense
from ceroc_donations.extensions import db
from tests.conftest import contribution_form

ROOT = Path(__file__).resolve().parent.parent


def _expense(fund, **overrides):
    data = {
        "paid_on": "2026-11-20",
        "payee": "Print shop",
        "amount": "64.00",
        "currency": "USD",
        "exchange_rate": "1",
        "category": "printing",
        "fund_id": str(fund.id),
    }
    data.update(overrides)
    return parse_expense(data)


def _lines(app, show_donor_names=True, locale="en"):
    with app.test_request_context(), force_locale(locale):
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
        return [str(line.sentence) for line in describe(events, show_donor_names=show_donor_names)]


def test_an_edit_names_the_person_the_reference_and_only_what_changed(app, user, funds):
    user.name = "Janet Seng"
    e = book.record_expense(_expense(funds[0]), by=user)
    book.update_expense(e, _expense(funds[0], amount="68.50"), by=user)
    db.session.commit()
    *_, changed = _lines(app)
    assert changed.startswith(f'Janet Seng changed <a href="/expenses/{e.id}">{e.reference}</a>: ')
    assert "amount $64.00 → $68.50" in changed
    assert "payee" not in changed and "category" not in changed  # unchanged fields stay out
    assert re.search(r", \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d$", changed)
    assert "{" not in changed and "_minor" not in changed  # no raw JSON, no stored names


def test_a_gift_shows_its_reference_and_donor_names_by_the_viewers_right(app, user, funds, donor):
    c = book.record_contribution(
        parse_contribution(contribution_form(donor.id, funds[0].id)), by=user
    )
    book.update_contribution(
        c,
        parse_contribution(contribution_form(donor.id, funds[1].id, occasion="Gala")),
        by=user,
    )
    db.session.commit()
    lines = _lines(app)
    recorded = next(line for line in lines if "recorded gift" in line)
    assert c.reference in recorded and "$400.00" in recorded
    assert f'href="/contributions/{c.id}"' in recorded
    changed = lines[-1]
    assert "fund general → promotion" in changed and "occasion Trip to Minnesota → Gala" in changed
    added = next(line for line in lines if "added donor" in line)
    assert "CNRP Minnesota" in added and f'href="/donors/{donor.id}"' in added
    hidden = next(line for line in _lines(app, show_donor_names=False) if "added donor" in line)
    assert "CNRP Minnesota" not in hidden and "/donors/" not in hidden


def test_values_are_escaped_and_khmer_sentences_are_translated(app, user, funds):
    user.name = "<script>x</script>"
    book.record_expense(_expense(funds[0], payee="<b>p</b>"), by=user)
    db.session.commit()
    (line,) = [s for s in _lines(app) if "expense" in s]
    assert "<script>" not in line and "&lt;script&gt;" in line
    (km,) = [s for s in _lines(app, locale="km") if "E-2026" in s]
    assert re.search(r"[\u1780-\u17ff]", km) and "recorded expense" not in km


def _kinds_written_by_the_app() -> set[str]:
    kinds: set[str] = set()
    for path in (ROOT / "ceroc_donations").rglob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"audit\.log\(\s*\w+,\s*(f?)\"([^\"]+)\"", text):
            is_f, kind = call.groups()
            if not is_f:
                kinds.add(kind)
            elif kind == "{kind}.voided":
                kinds |= {"contribution.voided", "expense.voided"}
            elif kind == "claim.{status}":
                kinds |= {"claim.approved", "claim.rejected"}
            else:
                kinds.add(kind)  # an unknown f-string kind shows up as missing below
        for call in re.finditer(r'"(user\.\w+)" if \w+ else "(user\.\w+)"', text):
            kinds |= set(call.groups())
    return kinds


def test_every_kind_the_app_writes_has_its_own_sentence():
    kinds = _kinds_written_by_the_app()
    assert len(kinds) > 30
    assert kinds - SENTENCES.keys() == set()


# One realistic event per kind: (action, entity_type, before, after, words in the sentence).
EVENTS = [
    (
        "contribution.thank_status",
        "contribution",
        {"thank_status": "not_thanked"},
        {"thank_status": "sent"},
        "thank-you status not thanked → sent",
    ),
    (
        "contribution.voided",
        "contribution",
        {"voided": False},
        {"voided": True, "void_reason": "typo"},
        "voided",
    ),
    ("expense.voided", "expense", {}, {"void_reason": "twice"}, "reason: twice"),
    (
        "donor.merged",
        "donor",
        {"merged": {"id": 9, "name_en": "Old Name"}},
        {"kept": {"name_en": "Kept"}},
        "merged donor Old Name into",
    ),
    ("fund.created", "fund", None, {"code": "gen"}, "created fund"),
    (
        "fund.updated",
        "fund",
        {"code": "a", "archived": False},
        {"code": "a", "archived": True},
        "archived no → yes",
    ),
    (
        "claim.submitted",
        "claim",
        None,
        {"reference": "X-2026-0001", "amount_minor": 1250, "currency": "USD"},
        "submitted claim X-2026-0001 for $12.50",
    ),
    ("claim.withdrawn", "claim", {}, {"reference": "X-2026-0001"}, "withdrew claim X-2026-0001"),
    ("claim.approved", "claim", {}, {"reference": "X-2026-0001"}, "approved claim X-2026-0001"),
    ("claim.rejected", "claim", {}, {"reference": "X-2026-0001"}, "rejected claim X-2026-0001"),
    ("claim.paid", "claim", {}, {"reference": "X-2026-0001"}, "paid claim X-2026-0001"),
    ("letter.generated", "letter", None, {"number": 1042}, "generated letter 1042"),
    (
        "letter.sent",
        "letter",
        {"status": "drafted"},
        {"status": "sent", "sent_via": "printed", "number": 7},
        "as sent (printed)",
    ),
    ("letter.email_queued", "letter", None, {"to": "a@b.example"}, "emailed to a@b.example"),
    (
        "letter_batch.created",
        "letter_batch",
        None,
        {"total": 68, "mode": "x"},
        "batch of 68 letters",
    ),
    ("letter_batch.restarted", "letter_batch", None, {"done": 3}, "restarted a batch"),
    ("letter_texts.saved", "letter_text_version", None, {"number": 4}, "saved version"),
    (
        "import.completed",
        "import",
        None,
        {"rows": 12, "filename": "gifts.csv"},
        "imported 12 gifts from gifts.csv",
    ),
    ("user.created", "user", None, {"email": "n@x.example"}, "created the account of"),
    ("user.enabled", "user", {"active": False}, {"active": True}, "enabled the account"),
    ("user.disabled", "user", {"active": True}, {"active": False}, "disabled the account"),
    ("user.role", "user", {"role": "member"}, {"role": "board"}, "role member → board"),
    ("token.created", "user", None, {"label": "x"}, "created an API token"),
    ("token.revoked", "user", None, {"token_id": 3}, "revoked an API token"),
    ("user.password_changed", "user", None, None, "changed their password"),
    ("user.password_temporary", "user", None, None, "a temporary password"),
    ("user.reset_link", "user", None, {"expires_at": "2026-12-01T00:00:00"}, "reset link"),
    ("user.password_reset", "user", None, None, "reset their password"),
    ("user.password_set", "user", None, None, "set the password of"),
    ("setting.changed", "setting", {"signatory": "A"}, {"signatory": "B"}, "signatory A → B"),
]


@pytest.mark.parametrize(("action", "entity", "before", "after", "words"), EVENTS)
def test_each_kind_reads_as_its_sentence(app, user, action, entity, before, after, words):
    audit.log(user, action, entity, user.id if entity == "user" else 1, before=before, after=after)
    db.session.commit()
    (html,) = _lines(app)
    line = re.sub(r"<[^>]+>", "", html)
    assert line.startswith("Treasurer ") and words in line
    assert "{" not in line and "_id" not in line


def test_every_kind_the_app_writes_is_tested_above():
    tested = {e[0] for e in EVENTS} | {
        "contribution.recorded",
        "contribution.updated",
        "expense.recorded",
        "expense.updated",
        "donor.created",
        "donor.updated",
    }
    assert _kinds_written_by_the_app() - tested == set()


def test_an_unknown_kind_gets_a_readable_generic_sentence(app, user):
    audit.log(user, "fund.colour_changed", "fund", 99, after={"colour": "red"})
    audit.log(None, "mystery", "gizmo", None)
    db.session.commit()
    fund_line, mystery = _lines(app)
    assert fund_line.startswith("Treasurer: fund colour changed on ")
    assert mystery.startswith("The system: mystery on ") and GENERIC not in mystery


def test_the_audit_page_shows_sentences_for_treasurer_and_admin_only(
    app, client, auth, user, funds
):
    e = book.record_expense(_expense(funds[0]), by=user)
    db.session.commit()
    auth.login("treasurer")
    page = client.get("/audit").get_data(as_text=True)
    assert f'<a href="/expenses/{e.id}">{e.reference}</a>' in page
    assert "before_json" not in page and "&#34;amount_minor&#34;" not in page
    auth.logout()
    auth.login("board")
    assert client.get("/audit").status_code == 403
