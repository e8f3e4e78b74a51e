"""How a donor is shown to whom: the one privacy rule, used by every page, API, export,
chart, the transparency page and the report PDF.

* Treasurer, board and admin (capability ``donor_names``) see names as recorded, and
  may open donor records with their contact details.
* Members and the public see a donor only as the public does, and never a donor's
  email, postal address or notes:

  - the donor's or the gift's ``public_display == "anonymous"`` → "Anonymous donor";
  - the gift's ``"initials"`` → initials of the English name (``Sok Dara`` → ``S. D.``);
  - the gift's ``"group_only"`` → a group's name; a person is "Individual donor";
  - otherwise the names, the Khmer spelling in Khmer when known (on Khmer pages too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import select

from ceroc_donations.book.models import Contribution, ContributionDonor, Donor
from ceroc_donations.extensions import db
from ceroc_donations.i18n import locale_code
from ceroc_donations.security import can


def N_(message: str) -> str:
    """Mark *message* for extraction; :class:`ShownName` translates it when shown."""
    return message


#: The English texts are msgids; the Khmer ones are for the report, which renders both.
ANONYMOUS_EN = N_("Anonymous donor")
ANONYMOUS_KM = "អ្នកបរិច្ចាគអនាមិក"
INDIVIDUAL_EN = N_("Individual donor")
INDIVIDUAL_KM = "អ្នកបរិច្ចាគជាបុគ្គល"
#: The capability that shows names as recorded and opens donor records.
NAMES = "donor_names"


def _(message: str) -> str:
    """Translate in a request (the page's language); English elsewhere (CLI, jobs)."""
    return gettext(message) if has_request_context() else message


@dataclass(frozen=True)
class ShownName:
    """A donor's name as one viewer may see it, in English and Khmer.

    ``str()`` gives the text for the page: a placeholder ("Anonymous donor") in the page's
    language, a name as written in English, or on a Khmer page in Khmer (the English
    spelling when the Khmer one is unknown).
    """

    en: str
    km: str
    placeholder: bool = False  # "Anonymous donor" / "Individual donor": translated
    text: str | None = None  # the page's text of several names joined

    def __str__(self) -> str:
        if self.placeholder:
            return _(self.en)
        if _khmer_page():
            return self.km
        if self.text is not None:
            return self.text
        return self.en


ANONYMOUS = ShownName(ANONYMOUS_EN, ANONYMOUS_KM, placeholder=True)
INDIVIDUAL = ShownName(INDIVIDUAL_EN, INDIVIDUAL_KM, placeholder=True)


def sees_names(viewer: Any) -> bool:
    """True when *viewer* (a User, or None for the public) sees donors as recorded."""
    return can(viewer, NAMES)


def initials(name: str) -> str:
    """``Sok Dara`` → ``S. D.``"""
    return " ".join(part[0].upper() + "." for part in name.replace("&", " ").split() if part)


def public_name(donor: Any, gift: Any, viewer: Any) -> ShownName:
    """How *donor* is shown to *viewer* on *gift* (``None`` for the donor alone).

    *donor* needs ``name_en``, ``name_km``, ``kind`` and ``public_display`` (a
    :class:`~ceroc_donations.book.models.Donor` or a row); *gift* needs ``public_display``.
    *viewer* is a User, or ``None`` for the public.
    """
    if sees_names(viewer):
        return ShownName(donor.name_en, donor.name_km or donor.name_en)
    gift_display = getattr(gift, "public_display", None) or "default"
    if donor.public_display == "anonymous" or gift_display == "anonymous":
        return ANONYMOUS
    if gift_display == "initials":
        shown = initials(donor.name_en)
        return ShownName(shown, shown) if shown else ANONYMOUS
    if gift_display == "group_only" and donor.kind != "group":
        return INDIVIDUAL
    return ShownName(donor.name_en, donor.name_km or donor.name_en)


def gift_names(donors: Iterable[Any], gift: Any, viewer: Any) -> list[ShownName]:
    """The co-donors of *gift* as *viewer* sees them; those shown alike are listed once."""
    names: list[ShownName] = []
    for donor in donors:
        shown = public_name(donor, gift, viewer)
        if shown not in names:
            names.append(shown)
    return names or [ANONYMOUS]


def joined(names: list[ShownName]) -> ShownName:
    """Several names as one ("A & B", "ក និង ខ")."""
    if len(names) == 1:
        return names[0]
    return ShownName(
        " & ".join(n.en for n in names),
        " និង ".join(n.km for n in names),
        text=" & ".join(str(n) for n in names),
    )


def public_labels(contribution_ids: Iterable[int]) -> dict[int, ShownName]:
    """The donors of many gifts as the public sees them, in two queries (ledger pages)."""
    ids = list(contribution_ids)
    if not ids:
        return {}
    gifts = {
        row.id: row
        for row in db.session.execute(
            select(Contribution.id, Contribution.public_display).where(Contribution.id.in_(ids))
        )
    }
    donors: dict[int, list] = {}
    for row in db.session.execute(
        select(
            ContributionDonor.contribution_id,
            Donor.name_en,
            Donor.name_km,
            Donor.kind,
            Donor.public_display,
        )
        .join(Donor)
        .where(ContributionDonor.contribution_id.in_(ids))
        .order_by(ContributionDonor.contribution_id, ContributionDonor.position)
    ):
        donors.setdefault(row.contribution_id, []).append(row)
    return labels_as_public(ids, gifts, donors)


def labels_as_public(
    ids: Iterable[int], gifts: Mapping[int, Any], donors: Mapping[int, list]
) -> dict[int, ShownName]:
    """:func:`public_labels` of gifts and their donors (in order) read by the caller."""
    return {
        cid: joined(gift_names(donors.get(cid, []), gifts.get(cid), None))
        for cid in ids
        if cid in gifts
    }


def recorded_labels_km(contribution_ids: Iterable[int]) -> dict[int, str]:
    """The donors of many gifts as recorded, for the roles that see names, in Khmer where
    the Khmer name is known (one query; Khmer pages of the ledger and the dashboard)."""
    ids = list(contribution_ids)
    names: dict[int, list[str]] = {}
    if not ids:
        return {}
    for cid, en, km in db.session.execute(
        select(ContributionDonor.contribution_id, Donor.name_en, Donor.name_km)
        .join(Donor)
        .where(ContributionDonor.contribution_id.in_(ids))
        .order_by(ContributionDonor.contribution_id, ContributionDonor.position)
    ):
        names.setdefault(cid, []).append(km or en)
    return {cid: " និង ".join(parts) for cid, parts in names.items()}


def _khmer_page() -> bool:
    return has_request_context() and locale_code() == "km"


def init_templates(app) -> None:
    """Template globals: ``can('write_book')`` for the logged-in user's capabilities;
    ``shown_name(donor, gift)`` and ``gift_label(gift)`` for donors as that user may see them."""
    from flask_login import current_user

    app.jinja_env.globals["can"] = lambda capability: can(current_user, capability)
    app.jinja_env.globals["shown_name"] = lambda donor, gift=None: public_name(
        donor, gift, current_user
    )
    app.jinja_env.globals["gift_label"] = lambda gift: joined(
        gift_names(gift.donors, gift, current_user)
    )


def entry_labels(entries: Iterable[Any], viewer: Any) -> dict[int, str]:
    """The labels of ledger entries as *viewer* may read them: a gift's donors as the
    public sees them unless *viewer* sees names; expenses as recorded."""
    entries = list(entries)
    if sees_names(viewer):
        km = (
            recorded_labels_km(e.contribution_id for e in entries if e.contribution_id)
            if _khmer_page()
            else {}
        )
        return {e.id: km.get(e.contribution_id, e.label) for e in entries}
    shown = public_labels(e.contribution_id for e in entries if e.contribution_id)
    return {
        e.id: str(shown.get(e.contribution_id, ANONYMOUS)) if e.contribution_id else e.label
        for e in entries
    }
