"""JSON API for thank-you letters: generate a gift's letter, read it, download its PDF,
and record that it was sent.

Board and admin tokens generate letters and mark them sent (capability ``letters``); the
treasurer's token may read and download archived letters (``letters_download``). Like all
of ``/api/v1`` these need a bearer token: browser sessions are not read
(:mod:`ceroc_donations.apiutil`).
"""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import select

from ceroc_donations.apiutil import (
    BOOLEAN,
    TEXT,
    BadBody,
    api_blueprint,
    api_error,
    caller,
    commit_created,
    day_json,
    idempotency_key,
    json_body,
    moment_json,
    replayed,
    token_required,
)
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.letters import archive, delivery
from ceroc_donations.letters.models import Letter
from ceroc_donations.web import external_url

bp = api_blueprint("api_letters", __name__)

GENERATE_FIELDS = {"mode": TEXT, "force": BOOLEAN}
SENT_FIELDS = {"via": TEXT}
#: How a letter reached its donor, as the API says it (the page's button records "print").
SENT_VIA = ("post", "hand", "email")


def letter_json(letter: Letter) -> dict:
    return {
        "number": letter.number,
        "kind": letter.kind,
        "status": letter.status,
        "sent_via": letter.sent_via,
        "sent_at": moment_json(letter.sent_at),
        "sha256": letter.sha256,
        "size": letter.size,
        "language": letter.language,
        "issued_on": day_json(letter.issued_on),
        "contribution": letter.contribution.reference if letter.contribution else None,
        "donor_id": letter.donor_id,
        "year": letter.year,
        "recipients": [
            {"id": d.id, "name_en": d.name_en, "name_km": d.name_km} for d in letter.recipients
        ],
        "text_version": letter.text_version.number if letter.text_version else None,
        "generated_at": moment_json(letter.generated_at),
        "generated_by": letter.generated_by.email if letter.generated_by else None,
        "pdf_url": external_url("api_letters.letter_pdf", number=letter.number),
    }


def _gift_letters(c: Contribution, letters: list[Letter], created: bool | None = None) -> dict:
    body = {
        "contribution": c.reference,
        "thank_status": c.thank_status,
        "letters": [letter_json(letter) for letter in letters],
    }
    if created is not None:
        body["created"] = created
    return body


def _contribution(cid: int) -> Contribution:
    c = db.session.get(Contribution, cid)
    if c is None:
        raise BadBody(404, "No contribution with this id.")
    return c


def _letter(number: int) -> Letter:
    found = db.session.execute(select(Letter).where(Letter.number == number)).scalar()
    if found is None:
        raise BadBody(404, "No letter with this number.")
    return found


@bp.post("/contributions/<int:cid>/letter")
@token_required("letters")
def generate(cid: int):
    c = _contribution(cid)
    key = idempotency_key()
    values, type_errors = json_body(GENERATE_FIELDS, required=False)
    if type_errors:
        raise Invalid(type_errors)

    def shape(ids: list[int], created: bool = False) -> dict:
        return _gift_letters(c, [db.session.get(Letter, i) for i in ids], created)

    if (done := replayed("letters", key)) is not None:
        return jsonify(shape(done)), 200
    mode = values.get("mode") or "joint"
    try:
        made, created = archive.generate_thank_you(
            c, by=caller(), mode=mode, force=bool(values.get("force"))
        )
    except Conflict as exc:
        db.session.rollback()
        return api_error(409, str(exc))
    return commit_created(
        "letters",
        key,
        [letter.id for letter in made],
        lambda ids: shape(ids, created),
        status=201 if created else 200,
    )


@bp.get("/contributions/<int:cid>/letter")
@token_required("letters_download")
def contribution_letters(cid: int):
    c = _contribution(cid)
    return jsonify(_gift_letters(c, archive.letters_for(c)))


@bp.get("/letters/<int:number>")
@token_required("letters_download")
def letter(number: int):
    return jsonify(letter_json(_letter(number)))


@bp.post("/letters/<int:number>/sent")
@token_required("letters")
def letter_sent(number: int):
    """Record how the letter was sent. Sending the same again changes nothing (200); a
    letter already sent another way is a 409."""
    found = _letter(number)
    values, type_errors = json_body(SENT_FIELDS)
    via = values.get("via")
    if via not in SENT_VIA:
        type_errors.setdefault("via", "Choose one of: " + ", ".join(SENT_VIA) + ".")
    if type_errors:
        raise Invalid(type_errors)
    if found.status == "sent":
        if found.sent_via == via:
            return jsonify(letter_json(found))
        return api_error(
            409,
            f"Letter {number} was already recorded as sent ({found.sent_via}) on "
            f"{found.sent_at:%Y-%m-%d}.",
        )
    delivery.mark_sent(found, via, by=caller())
    db.session.commit()
    return jsonify(letter_json(found))


@bp.get("/letters/<int:number>.pdf")
@token_required("letters_download")
def letter_pdf(number: int):
    found = _letter(number)
    try:
        pdf = archive.read_pdf(found)
    except archive.ArchiveError as exc:
        return api_error(500, str(exc))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{archive.pdf_filename(found)}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["ETag"] = f'"{found.sha256}"'
    return response
