"""Letter data and texts → HTML, with no database and no Flask.

The caller reads the database once into a :class:`LetterData`, picks the board's
current :class:`LetterTexts`, and gets back a complete HTML document for
:meth:`~ceroc_donations.rendering.pdf.LetterRenderer.to_pdf`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from ceroc_donations.money import Money, format_money, to_khmer_digits
from ceroc_donations.paths import folder
from ceroc_donations.rendering.khmer import format_date_en, format_date_km, insert_word_breaks
from ceroc_donations.rendering.placeholders import (
    PlaceholderError,
    fill,
    fill_paragraphs,
    validate,
)
from ceroc_donations.rendering.qr import qr_svg

Language = Literal["bilingual", "km", "en"]
Kind = Literal["thank_you", "statement"]
Paper = Literal["a4", "letter"]
#: The paper sizes the letter design is laid out for (``letters/letter.css``).
PAPERS = ("a4", "letter")

#: The ``letters/`` folder: designs (templates, CSS) and default texts.
LETTERS_DIR = folder("letters")
TEMPLATES = {"thank_you": "thank_you.html", "statement": "statement.html"}
#: What a draft shows where a letter's number would be: a draft has no number.
DRAFT_EN = "DRAFT"
DRAFT_KM = "ព្រាង"
_KHMER = re.compile("[\u1780-\u17ff\u19e0-\u19ff]")


@dataclass(frozen=True)
class Donor:
    """One donor's name; ``name_km`` is ``None`` when the Khmer spelling is unknown."""

    name_en: str
    name_km: str | None = None


@dataclass(frozen=True)
class GiftLine:
    """One gift in a yearly statement, in the currency it was given in.

    *base_amount* is its value in the statement's (base) currency when that differs.
    """

    received_on: date
    reference: str
    amount: Money
    base_amount: Money | None = None

    @property
    def counted(self) -> Money:
        """What the gift adds to the statement's total."""
        return self.base_amount or self.amount


@dataclass(frozen=True)
class Verification:
    """How anyone can check a letter: its *code* as printed (``ABCDE-FGHJK``) and the *url*
    of its public page, drawn as a QR code in the footer."""

    code: str
    url: str


@dataclass(frozen=True)
class LetterData:
    """Everything a letter shows, read from the database once.

    A joint gift lists all its co-donors in *donors*; the amount is shown once.
    For a yearly statement, *gifts* lists the year's gifts and *amount* is their total.
    A draft has no *number* (``None``): it is marked DRAFT and shows no letter number.
    *paper* is the sheet it is laid out on; with an *address*, the address block sits where
    the window of the paper's envelope is (DL on A4, #10 on US Letter).
    An archived letter carries its *verification* code and link; a draft never does.
    """

    number: int | None
    reference: str
    issued_on: date
    donors: tuple[Donor, ...]
    amount: Money
    received_on: date | None = None
    occasion: str = ""
    occasion_km: str = ""
    purpose: str = ""
    purpose_km: str = ""
    language: Language = "bilingual"
    not_tax_receipt: bool = True
    gifts: tuple[GiftLine, ...] = ()
    year: int | None = None
    buddhist_era: bool = False
    paper: Paper = "a4"
    #: The lines of the window-envelope address block (name first); none: no block.
    address: tuple[str, ...] = ()
    verification: Verification | None = None

    def __post_init__(self) -> None:
        if self.language not in ("bilingual", "km", "en"):
            raise ValueError(f"language must be bilingual, km or en, not {self.language!r}")
        if self.paper not in PAPERS:
            raise ValueError(f"paper must be a4 or letter, not {self.paper!r}")
        object.__setattr__(self, "address", tuple(self.address))
        if self.verification is not None and self.number is None:
            raise ValueError("a draft has no verification code")
        if not self.donors:
            raise ValueError("a letter needs at least one donor")
        donors = tuple(d if isinstance(d, Donor) else Donor(*d) for d in self.donors)
        object.__setattr__(self, "donors", donors)
        object.__setattr__(self, "gifts", tuple(self.gifts))
        for gift in self.gifts:
            if gift.counted.currency != self.amount.currency:
                raise ValueError("every gift of a statement must count in the total's currency")

    @property
    def draft(self) -> bool:
        return self.number is None

    @property
    def gift_date(self) -> date:
        return self.received_on or self.issued_on

    @property
    def statement_year(self) -> int:
        return self.year or self.issued_on.year


@dataclass(frozen=True)
class LetterTexts:
    """One version of the board-editable wording, in Khmer and English.

    Body texts may use the placeholders of :mod:`.placeholders`; paragraphs are
    separated by a blank line.
    """

    org_name_km: str
    org_name_en: str
    org_short: str
    title_km: str
    title_en: str
    statement_title_km: str
    statement_title_en: str
    greeting_km: str
    greeting_en: str
    body_km: str
    body_en: str
    statement_body_km: str
    statement_body_en: str
    closing_km: str
    closing_en: str
    signatory_name_km: str
    signatory_name_en: str
    signatory_title_km: str
    signatory_title_en: str
    not_tax_receipt_km: str
    not_tax_receipt_en: str
    labels_km: Mapping[str, str] = field(default_factory=dict)
    labels_en: Mapping[str, str] = field(default_factory=dict)
    version: str = "default"

    def __post_init__(self) -> None:
        # Read-only views, so a shared (cached) instance cannot be changed by accident.
        object.__setattr__(self, "labels_km", MappingProxyType(dict(self.labels_km)))
        object.__setattr__(self, "labels_en", MappingProxyType(dict(self.labels_en)))

    def to_dict(self) -> dict[str, object]:
        """Plain data, e.g. to store a version of the texts as JSON."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["labels_km"] = dict(self.labels_km)
        data["labels_en"] = dict(self.labels_en)
        return data

    def __reduce__(self):
        # Mapping proxies do not pickle; batches send texts to worker processes.
        return (LetterTexts.from_dict, (self.to_dict(),))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> LetterTexts:
        """Build from a dict such as ``letters/texts/default.json``; unknown keys are refused."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown letter text fields: {', '.join(sorted(unknown))}")
        return cls(**data)  # type: ignore[arg-type]

    @classmethod
    def default(cls, letters_dir: Path | None = None) -> LetterTexts:
        """The default wording shipped in ``letters/texts/default.json``."""
        return _load_texts(str((letters_dir or LETTERS_DIR) / "texts" / "default.json"))

    def problems(self) -> dict[str, list[str]]:
        """Placeholder problems per field, for the board's edit form; empty when all is fine."""
        found = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                messages = validate(value)
                if messages:
                    found[f.name] = messages
        return found


@lru_cache(maxsize=8)
def _load_texts(path: str) -> LetterTexts:
    with open(path, encoding="utf-8") as handle:
        return LetterTexts.from_dict(json.load(handle))


def join_names(names: list[str], conjunction: str) -> str:
    """``A``, ``A and B``, ``A, B and C`` (Khmer: ``A, B និង C``)."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def placeholder_values(data: LetterData) -> dict[str, str]:
    """The value of every placeholder for *data*, as plain (unescaped) text."""
    names_en = [d.name_en for d in data.donors]
    names_km = [d.name_km or d.name_en for d in data.donors]
    year = str(data.statement_year)
    return {
        "donor_name_en": join_names(names_en, "and"),
        "donor_name_km": join_names(names_km, "និង"),
        "amount_en": format_money(data.amount, "en"),
        "amount_km": format_money(data.amount, "km"),
        "date_en": format_date_en(data.gift_date),
        "date_km": format_date_km(data.gift_date, data.buddhist_era),
        # A text written in one language only is shown in both halves (i18n.localized).
        "occasion": data.occasion or data.occasion_km,
        "occasion_km": data.occasion_km or data.occasion,
        "purpose": data.purpose or data.purpose_km,
        "purpose_km": data.purpose_km or data.purpose,
        "letter_number": DRAFT_EN if data.draft else str(data.number),
        "letter_number_km": DRAFT_KM if data.draft else to_khmer_digits(str(data.number)),
        "reference": data.reference,
        "year": year,
        "year_km": to_khmer_digits(year),
    }


def _khmer_markup(value: object) -> Markup:
    """Escape *value* (unless it is already Markup) and mark Khmer word boundaries.

    Inserting U+200B inside runs of Khmer letters cannot create or break any markup.
    """
    return Markup(insert_word_breaks(str(escape(value))))


def design_environment(letters_dir: Path) -> Environment:
    """A Jinja environment for the print designs in *letters_dir*: autoescaped, strict, with
    the ``km`` filter that escapes and marks Khmer word boundaries."""
    env = Environment(
        loader=FileSystemLoader(str(letters_dir)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["km"] = _khmer_markup
    return env


class LetterTemplates:
    """The Jinja environment for the letter designs in one ``letters/`` folder."""

    def __init__(self, letters_dir: Path | str | None = None):
        self.letters_dir = Path(letters_dir or LETTERS_DIR)
        self.env = design_environment(self.letters_dir)
        self.env.filters["km_digits"] = lambda value: to_khmer_digits(str(value))
        self.env.filters["money_en"] = lambda money: format_money(money, "en")
        self.env.filters["money_km"] = lambda money: format_money(money, "km")
        self.env.filters["date_en"] = format_date_en
        self.env.filters["date_km"] = format_date_km

    def render(self, data: LetterData, texts: LetterTexts, kind: Kind = "thank_you") -> str:
        """Render *data* with *texts* as a complete HTML document."""
        if kind not in TEMPLATES:
            raise ValueError(f"kind must be one of {', '.join(TEMPLATES)}, not {kind!r}")
        problems = texts.problems()
        if problems:
            raise PlaceholderError([f"{name}: {m}" for name, ms in problems.items() for m in ms])
        values = placeholder_values(data)

        def one(text: str) -> Markup:
            return fill(text, values)

        def paragraphs(text: str) -> list[Markup]:
            return fill_paragraphs(text, values)

        show_km = data.language in ("bilingual", "km")
        show_en = data.language in ("bilingual", "en")
        return self.env.get_template(TEMPLATES[kind]).render(
            data=data,
            texts=texts,
            values=values,
            fill=one,
            paragraphs=paragraphs,
            show_km=show_km,
            show_en=show_en,
            # A bilingual letter opens in Khmer, so Khmer is its main language.
            lang="en" if data.language == "en" else "km",
            labels_km=texts.labels_km,
            labels_en=texts.labels_en,
            draft_km=DRAFT_KM,
            draft_en=DRAFT_EN,
            address_lang="km" if _KHMER.search("".join(data.address)) else "en",
            verification_qr=qr_svg(data.verification.url) if data.verification else None,
        )


@lru_cache(maxsize=4)
def _templates(letters_dir: str) -> LetterTemplates:
    return LetterTemplates(letters_dir)


def render_html(
    data: LetterData,
    texts: LetterTexts | None = None,
    kind: Kind = "thank_you",
    *,
    letters_dir: Path | str | None = None,
) -> str:
    """Render one letter (``thank_you``) or yearly ``statement`` as an HTML document."""
    templates = _templates(str(Path(letters_dir or LETTERS_DIR).resolve()))
    return templates.render(data, texts or LetterTexts.default(templates.letters_dir), kind)


def letter_metadata(data: LetterData, texts: LetterTexts, kind: Kind) -> dict[str, str]:
    """PDF metadata of a letter: title, author, subject, lang."""
    donors = ", ".join(d.name_en for d in data.donors)
    if kind == "statement":
        title = f"{texts.org_short} contributions {data.statement_year} – {donors}"
    else:
        number = DRAFT_EN if data.draft else data.number
        title = f"{texts.org_short} thank you letter {number} – {donors}"
    return {
        "title": title,
        "author": f"{texts.org_name_en} ({texts.org_short})",
        "subject": f"{kind.replace('_', ' ')} {data.reference}",
        "lang": "en" if data.language == "en" else "km",
    }
