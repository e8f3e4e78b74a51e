"""The audit log as people read it: one translated sentence per event.

"Janet Seng changed E-2026-0001: amount $64.00 → $68.50, 30 Nov 2026 14:02". Each event
kind has one whole sentence with named placeholders (translators may reorder them); the
references (C-…, E-…, claim and letter numbers, donor names) link to the entry, and an
edit lists only the fields that changed. A kind this module does not know gets a plain
generic sentence, never raw JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import format_datetime
from babel.lists import format_list
from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.book.models import Contribution, Donor, Expense, Fund
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db
from ceroc_donations.i18n import N_, date_filter, locale_code, money_filter
from ceroc_donations.ledger.service import category_label
from ceroc_donations.letters.models import Letter
from ceroc_donations.money import Money

#: One sentence per event kind. Placeholders: ``who`` (the person), ``ref`` (the entry,
#: linked), ``when``, ``changes`` (only the fields that changed) and a few named per kind.
SENTENCES: dict[str, str] = {
    "contribution.recorded": N_("%(who)s recorded gift %(ref)s of %(amount)s, %(when)s"),
    "contribution.updated": N_("%(who)s changed %(ref)s: %(changes)s, %(when)s"),
    "contribution.voided": N_("%(who)s voided %(ref)s (reason: %(reason)s), %(when)s"),
    "contribution.thank_status": N_("%(who)s changed %(ref)s: %(changes)s, %(when)s"),
    "expense.recorded": N_("%(who)s recorded expense %(ref)s of %(amount)s, %(when)s"),
    "expense.updated": N_("%(who)s changed %(ref)s: %(changes)s, %(when)s"),
    "expense.voided": N_("%(who)s voided %(ref)s (reason: %(reason)s), %(when)s"),
    "donor.created": N_("%(who)s added donor %(ref)s, %(when)s"),
    "donor.updated": N_("%(who)s changed donor %(ref)s: %(changes)s, %(when)s"),
    "donor.merged": N_("%(who)s merged donor %(merged)s into %(ref)s, %(when)s"),
    "fund.created": N_("%(who)s created fund %(ref)s, %(when)s"),
    "fund.updated": N_("%(who)s changed fund %(ref)s: %(changes)s, %(when)s"),
    "claim.submitted": N_("%(who)s submitted claim %(ref)s for %(amount)s, %(when)s"),
    "claim.withdrawn": N_("%(who)s withdrew claim %(ref)s, %(when)s"),
    "claim.approved": N_("%(who)s approved claim %(ref)s, %(when)s"),
    "claim.rejected": N_("%(who)s rejected claim %(ref)s, %(when)s"),
    "claim.paid": N_("%(who)s paid claim %(ref)s, %(when)s"),
    "letter.generated": N_("%(who)s generated %(ref)s, %(when)s"),
    "letter.sent": N_("%(who)s marked %(ref)s as sent (%(via)s), %(when)s"),
    "letter.email_queued": N_("%(who)s queued %(ref)s to be emailed to %(to)s, %(when)s"),
    "letter_batch.created": N_("%(who)s started a batch of %(total)s letters, %(when)s"),
    "letter_batch.restarted": N_("%(who)s restarted a batch of letters, %(when)s"),
    "letter_texts.saved": N_("%(who)s saved version %(ref)s of the letter texts, %(when)s"),
    "import.completed": N_("%(who)s imported %(rows)s gifts from %(filename)s, %(when)s"),
    "user.created": N_("%(who)s created the account of %(ref)s, %(when)s"),
    "user.enabled": N_("%(who)s enabled the account of %(ref)s, %(when)s"),
    "user.disabled": N_("%(who)s disabled the account of %(ref)s, %(when)s"),
    "user.role": N_("%(who)s changed the account of %(ref)s: %(changes)s, %(when)s"),
    "token.created": N_("%(who)s created an API token for %(ref)s, %(when)s"),
    "token.revoked": N_("%(who)s revoked an API token of %(ref)s, %(when)s"),
    "user.password_changed": N_("%(who)s changed their password, %(when)s"),
    "user.password_temporary": N_("%(who)s gave %(ref)s a temporary password, %(when)s"),
    "user.reset_link": N_("%(who)s made a password reset link for %(ref)s, %(when)s"),
    "user.password_reset": N_("%(who)s reset their password with a link, %(when)s"),
    "user.password_set": N_("%(who)s set the password of %(ref)s from the server, %(when)s"),
    "setting.changed": N_("%(who)s changed the settings: %(changes)s, %(when)s"),
}
GENERIC = N_("%(who)s: %(action)s on %(ref)s, %(when)s")

#: How a field is named in a list of changes.
FIELD_LABELS: dict[str, str] = {
    "amount": N_("amount"),
    "base_amount": N_("amount in base currency"),
    "exchange_rate": N_("exchange rate"),
    "donors": N_("donors"),
    "received_on": N_("received on"),
    "received_by": N_("received by"),
    "occasion": N_("occasion"),
    "purpose": N_("purpose"),
    "method": N_("method"),
    "in_kind_description": N_("in-kind description"),
    "fund_id": N_("fund"),
    "public_display": N_("public display"),
    "note": N_("note"),
    "voided": N_("voided"),
    "void_reason": N_("void reason"),
    "thank_status": N_("thank-you status"),
    "paid_on": N_("paid on"),
    "payee": N_("payee"),
    "category": N_("category"),
    "description_en": N_("description (English)"),
    "description_km": N_("description (Khmer)"),
    "receipt_name": N_("receipt"),
    "kind": N_("kind"),
    "name_en": N_("name (English)"),
    "name_km": N_("name (Khmer)"),
    "city": N_("city"),
    "region": N_("region"),
    "country": N_("country"),
    "email": N_("email"),
    "postal_address": N_("postal address"),
    "letter_language": N_("letter language"),
    "paper": N_("paper"),
    "code": N_("code"),
    "description": N_("description"),
    "archived": N_("archived"),
    "name": N_("name"),
    "role": N_("role"),
    "active": N_("active"),
    "status": N_("status"),
    "spent_on": N_("spent on"),
    "purpose_en": N_("purpose (English)"),
    "purpose_km": N_("purpose (Khmer)"),
    "decision_note": N_("decision note"),
    "reference": N_("reference"),
}

#: Stored codes whose words are shown instead (status and display values).
VALUE_LABELS: dict[str, str] = {
    "not_thanked": N_("not thanked"),
    "drafted": N_("drafted"),
    "sent": N_("sent"),
    "do_not_acknowledge": N_("do not acknowledge"),
    "submitted": N_("submitted"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "paid": N_("paid"),
    "printed": N_("printed"),
    "emailed": N_("emailed"),
}

#: Snapshot keys that are bookkeeping, not something a person changed by name.
_SKIPPED = {"receipt_sha256", "decided_by_id", "paid_by_id", "expense_id", "claimant_id"}
_CODED = {"thank_status", "status", "method", "role", "kind", "public_display", "sent_via"}


@dataclass(frozen=True)
class AuditLine:
    """One event as shown: its number, time and sentence (HTML, escaped)."""

    seq: int
    at: datetime
    sentence: Markup


@dataclass
class _Names:
    """Everything the sentences of one page refer to, loaded in one query per kind."""

    users: dict[int, User]
    contributions: dict[int, Contribution]
    expenses: dict[int, Expense]
    donors: dict[int, Donor]
    funds: dict[int, Fund]
    claims: dict[int, ExpenseClaim]
    letters: dict[int, Letter]
    show_donor_names: bool


def _load(model, ids: set[int]) -> dict:
    if not ids:
        return {}
    rows = db.session.execute(select(model).where(model.id.in_(ids))).scalars()
    return {row.id: row for row in rows}


def _json(text: str | None) -> dict:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def describe(events: Iterable[AuditEvent], *, show_donor_names: bool) -> list[AuditLine]:
    """The sentences for *events*, in their order. *show_donor_names*: the viewer's right."""
    events = list(events)
    parsed = [(ev, _json(ev.before_json), _json(ev.after_json)) for ev in events]
    ids: dict[str, set[int]] = {}
    for ev, before, after in parsed:
        if ev.entity_id is not None:
            ids.setdefault(ev.entity_type, set()).add(ev.entity_id)
        if ev.actor_id is not None:
            ids.setdefault("user", set()).add(ev.actor_id)
        for snap in (before, after):
            if isinstance(snap.get("fund_id"), int):
                ids.setdefault("fund", set()).add(snap["fund_id"])
            for share in snap.get("donors") or []:
                if isinstance(share, dict) and isinstance(share.get("donor_id"), int):
                    ids.setdefault("donor", set()).add(share["donor_id"])
    names = _Names(
        users=_load(User, ids.get("user", set())),
        contributions=_load(Contribution, ids.get("contribution", set())),
        expenses=_load(Expense, ids.get("expense", set())),
        donors=_load(Donor, ids.get("donor", set())),
        funds=_load(Fund, ids.get("fund", set())),
        claims=_load(ExpenseClaim, ids.get("claim", set())),
        letters=_load(Letter, ids.get("letter", set())),
        show_donor_names=show_donor_names,
    )
    return [
        AuditLine(ev.seq, ev.at, sentence(ev, before, after, names)) for ev, before, after in parsed
    ]


def when_text(at: datetime) -> str:
    """``30 Nov 2026 14:02`` (UTC, as stored), in the page's language."""
    locale = locale_code()
    pattern = "d MMMM y HH:mm" if locale == "km" else "d MMM y HH:mm"
    return format_datetime(at, pattern, locale=locale)


def sentence(ev: AuditEvent, before: dict, after: dict, names: _Names) -> Markup:
    """The sentence for one event: its kind's template, else the generic one."""
    values: dict[str, object] = {
        "who": _actor(ev, names),
        "ref": _reference(ev, before, after, names),
        "when": when_text(ev.at),
    }
    template = SENTENCES.get(ev.action)
    if template is None:
        values["action"] = ev.action.replace("_", " ").replace(".", " ")
        return _fill(GENERIC, values)
    extra = _EXTRA.get(ev.action)
    if extra is not None:
        values.update(extra(before, after, names))
    if "%(changes)s" in template:
        values["changes"] = changes_text(before, after, names)
    return _fill(template, values)


def _fill(template: str, values: dict[str, object]) -> Markup:
    # Markup's % escapes every value that is not already Markup (the linked reference).
    return Markup(escape(_(template))) % {k: _plain(v) for k, v in values.items()}


def _plain(value: object) -> object:
    return value if isinstance(value, Markup) else str(value)


def _actor(ev: AuditEvent, names: _Names) -> str:
    user = names.users.get(ev.actor_id) if ev.actor_id is not None else None
    if user is not None:
        return user.name or user.email
    return ev.actor if ev.actor != "system" else _("The system")


def _link(text: str, url: str | None) -> Markup:
    if url is None:
        return Markup("<strong>%s</strong>") % text
    return Markup('<a href="%s">%s</a>') % (url, text)


def _donor_name(donor: Donor | None, names: _Names, fallback: str | None = None) -> str:
    if not names.show_donor_names:
        return _("a donor")
    if donor is not None:
        return donor.name_en or donor.name_km or _("a donor")
    return fallback or _("a removed donor")


def _reference(ev: AuditEvent, before: dict, after: dict, names: _Names) -> Markup | str:
    kind, eid = ev.entity_type, ev.entity_id
    snap_ref = after.get("reference") or before.get("reference")
    if kind == "contribution":
        c = names.contributions.get(eid)
        ref = c.reference if c else snap_ref
        return _link(ref or _("a gift"), url_for("contributions.detail", cid=eid) if c else None)
    if kind == "expense":
        e = names.expenses.get(eid)
        ref = e.reference if e else snap_ref
        return _link(ref or _("an expense"), url_for("expenses.detail", eid=eid) if e else None)
    if kind == "claim":
        claim = names.claims.get(eid)
        ref = claim.reference if claim else snap_ref
        return _link(ref or _("a claim"), url_for("claims.detail", cid=eid) if claim else None)
    if kind == "donor":
        donor = names.donors.get(eid)
        kept = after.get("kept") if isinstance(after.get("kept"), dict) else {}
        name = _donor_name(donor, names, after.get("name_en") or kept.get("name_en"))
        url = url_for("donors.detail", donor_id=eid) if donor and names.show_donor_names else None
        return _link(name, url)
    if kind == "fund":
        fund = names.funds.get(eid)
        code = fund.code if fund else after.get("code") or before.get("code")
        return _link(code or _("a fund"), url_for("funds.index") if fund else None)
    if kind == "letter":
        letter = names.letters.get(eid)
        number = letter.number if letter else after.get("number")
        if number is None:
            return _link(_("a letter"), None)
        url = url_for("letters.download", number=number) if letter else None
        return _link(_("letter %(number)s", number=number), url)
    if kind == "letter_text_version":
        return _link(str(after.get("number", "")), url_for("letters.texts"))
    if kind == "user":
        user = names.users.get(eid)
        label = (user.name or user.email) if user else after.get("email") or before.get("email")
        return _link(label or _("an account"), url_for("admin.user_list") if user else None)
    if kind == "import":
        return _link(_("an import"), None)
    if kind == "setting":
        return _link(_("the settings"), None)
    return _link(_("an entry"), None)


# --- the changed fields --------------------------------------------------------------------


def _money_of(snap: dict, prefix: str) -> Money | None:
    minor = snap.get(f"{prefix}_minor")
    currency = snap.get("currency" if prefix == "amount" else "base_currency")
    if isinstance(minor, int) and isinstance(currency, str):
        return Money(minor, currency)
    return None


def _flatten(snap: dict) -> dict:
    """A snapshot with amounts as one ``Money`` each and bookkeeping keys left out."""
    flat = {k: v for k, v in snap.items() if k not in _SKIPPED}
    for prefix in ("amount", "base_amount"):
        if f"{prefix}_minor" in flat:
            flat[prefix] = _money_of(snap, prefix)
            flat.pop(f"{prefix}_minor")
    flat.pop("currency", None)
    flat.pop("base_currency", None)
    return flat


def _value_text(key: str, value, names: _Names) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, Money):
        return money_filter(value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "fund_id":
        fund = names.funds.get(value)
        return fund.code if fund else str(value)
    if key == "category":
        return category_label(str(value))
    if key == "donors":
        return format_list(
            [_donor_name(names.donors.get(s.get("donor_id")), names) for s in value],
            locale=locale_code(),
        )
    if key in _CODED:
        label = VALUE_LABELS.get(str(value))
        return _(label) if label else _(str(value).replace("_", " "))
    if isinstance(value, str) and key.endswith("_on"):
        try:
            return date_filter(date.fromisoformat(value))
        except ValueError:
            return value
    if key in ("name_en", "name_km", "email", "postal_address") and not names.show_donor_names:
        return "…"
    return str(value)


def changes_text(before: dict, after: dict, names: _Names) -> str:
    """``amount $64.00 → $68.50, payee A → B``: only the fields that differ."""
    old, new = _flatten(before), _flatten(after)
    parts = []
    for key in new:
        if key in old and old[key] == new[key]:
            continue
        label = FIELD_LABELS.get(key)
        field = _(label) if label else key.replace("_", " ")
        parts.append(
            _(
                "%(field)s %(old)s → %(new)s",
                field=field,
                old=_value_text(key, old.get(key), names),
                new=_value_text(key, new[key], names),
            )
        )
    if not parts:
        return _("nothing visible changed")
    return format_list(parts, locale=locale_code())


# --- the named extras of some kinds --------------------------------------------------------


def _amount(before: dict, after: dict, names: _Names) -> dict:
    money = _money_of(after, "amount")
    return {"amount": money_filter(money) if money else "—"}


def _reason(before: dict, after: dict, names: _Names) -> dict:
    return {"reason": after.get("void_reason") or "—"}


def _merged(before: dict, after: dict, names: _Names) -> dict:
    merged = before.get("merged") if isinstance(before.get("merged"), dict) else {}
    return {"merged": _donor_name(None, names, merged.get("name_en"))}


def _via(before: dict, after: dict, names: _Names) -> dict:
    return {"via": _value_text("sent_via", after.get("sent_via"), names)}


def _to(before: dict, after: dict, names: _Names) -> dict:
    return {"to": after.get("to") or "—"}


def _total(before: dict, after: dict, names: _Names) -> dict:
    return {"total": after.get("total", "—")}


def _imported(before: dict, after: dict, names: _Names) -> dict:
    return {"rows": after.get("rows", "—"), "filename": after.get("filename") or "—"}


_EXTRA: dict[str, Callable[[dict, dict, _Names], dict]] = {
    "contribution.recorded": _amount,
    "expense.recorded": _amount,
    "claim.submitted": _amount,
    "contribution.voided": _reason,
    "expense.voided": _reason,
    "donor.merged": _merged,
    "letter.sent": _via,
    "letter.email_queued": _to,
    "letter_batch.created": _total,
    "import.completed": _imported,
}
