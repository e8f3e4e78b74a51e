"""JSON API for thank-you letters: generate a gift's letter, read it, download its PDF,
and record that it was sent.

Board and admin tokens generate letters and mark them sent (capability ``letters``); the
treasurer's token may read and download archived letters (``letters_download``). Like all
of ``/api/v1`` these need a bearer token: browser sessions are not read
(:mod:`ceroc_donations.apiutil`).
"""

from __future__ import annotations

from flask import Response, jsonify, request
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
from ceroc_donations.book.inputs import MAX_ID, Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.letters import archive, delivery, jobs
from ceroc_donations.letters.models import Letter, LetterBatch
from ceroc_donations.letters.verification import grouped
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
        "paper": letter.paper,
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
        # The code and link printed in the letter's footer (none on letters made before).
        "verify_code": grouped(letter.verify_code) if letter.verify_code else None,
        "verify_url": letter.verify_url,
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


# --- letter batches: queued as jobs, followed by polling -----------------------------------


def _batch_json(batch: LetterBatch) -> dict:
    done = batch.status == "done"
    return {
        "id": batch.id,
        "url": external_url("api_letters.letter_batch", batch_id=batch.id),
        "status": batch.status,
        "mode": batch.mode,
        "paper": batch.paper,
        "total": batch.total,
        "done": batch.done,
        "eta_seconds": jobs.batch_eta_seconds(batch),
        "error": batch.error,
        "created_at": batch.created_at.isoformat(),
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "letters": [letter.number for letter in jobs.batch_letters(batch)] if done else [],
        "pdf_url": external_url("api_letters.letter_batch_pdf", batch_id=batch.id)
        if done
        else None,
        "zip_url": external_url("api_letters.letter_batch_zip", batch_id=batch.id)
        if done
        else None,
    }


def _batch_ids(body: dict) -> list[int] | tuple[int, str, dict]:
    """The gift ids the body asks for, or an error tuple naming the field."""
    ids, every = body.get("contribution_ids"), body.get("all_unthanked", False)
    if not isinstance(every, bool):
        return 422, "Invalid input.", {"all_unthanked": "Must be true or false."}
    if (ids is None) == (not every):
        return (
            422,
            "Invalid input.",
            {"contribution_ids": "Send contribution_ids or all_unthanked: true (one of them)."},
        )
    if every:
        found = [c.id for c in delivery.queue()]
        if not found:
            return 422, "Invalid input.", {"all_unthanked": "No gifts are waiting for a letter."}
        return found
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in ids
    ):
        return 422, "Invalid input.", {"contribution_ids": "Must be a list of contribution ids."}
    return ids


@bp.post("/letter-batches")
@token_required("letters")
def create_letter_batch():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "The body must be a JSON object.")
    ids = _batch_ids(body)
    if isinstance(ids, tuple):
        return api_error(*ids)
    mode, paper = body.get("mode", "joint"), body.get("paper", "auto")
    try:
        batch = jobs.create_batch(
            ids,
            mode=mode if isinstance(mode, str) else "",
            paper=paper if isinstance(paper, str) else "",
            by=caller(),
        )
    except Invalid as exc:
        db.session.rollback()
        fields = {"contribution_ids" if k == "ids" else k: v for k, v in exc.fields.items()}
        return api_error(422, "Invalid input.", fields)
    batch_id = batch.id
    db.session.commit()
    jobs.start_batch(batch_id)
    batch = db.session.get(LetterBatch, batch_id)
    body = _batch_json(batch)
    return body, 202, {"Location": body["url"]}


def _api_batch(batch_id: int) -> LetterBatch | None:
    return db.session.get(LetterBatch, batch_id)


@bp.get("/letter-batches/<int:batch_id>")
@token_required("letters_download")
def letter_batch(batch_id: int):
    batch = _api_batch(batch_id)
    if batch is None:
        return api_error(404, "No letter batch with this id.")
    return _batch_json(batch)


def _batch_download(batch_id: int, kind: str):
    batch = _api_batch(batch_id)
    if batch is None:
        return api_error(404, "No letter batch with this id.")
    found = jobs.batch_letters(batch)
    if batch.status != "done" or not found:
        return api_error(409, "The batch is not finished.")
    try:
        if kind == "pdf":
            data, mimetype = archive.combined_pdf(found), "application/pdf"
        else:
            data, mimetype = archive.zip_of(found), "application/zip"
    except archive.ArchiveError as exc:
        return api_error(500, str(exc))
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="CEROC-letters-batch-{batch_id}.{kind}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/letter-batches/<int:batch_id>.pdf")
@token_required("letters_download")
def letter_batch_pdf(batch_id: int):
    return _batch_download(batch_id, "pdf")


@bp.get("/letter-batches/<int:batch_id>.zip")
@token_required("letters_download")
def letter_batch_zip(batch_id: int):
    return _batch_download(batch_id, "zip")
