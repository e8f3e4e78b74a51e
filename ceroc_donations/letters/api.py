"""JSON API for thank-you letters: generate a gift's letter, read it, download its PDF.

Board and admin tokens generate (capability ``letters``); the treasurer's token may read
and download archived letters (``letters_download``). Browser sessions may call these too,
but a POST without a bearer token must then carry the CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import csrf, db
from ceroc_donations.letters import archive, delivery, jobs
from ceroc_donations.letters.models import Letter, LetterBatch
from ceroc_donations.security import api_error, api_requires, api_user

bp = Blueprint("api_letters", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.before_request
def _csrf_for_sessions():
    """Session cookies ride along on cross-site requests; tokens do not."""
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and current_app.config.get("WTF_CSRF_ENABLED", True)
        and current_user.is_authenticated
        and not request.headers.get("Authorization", "").startswith("Bearer ")
    ):
        csrf.protect()


def _json(letter: Letter) -> dict:
    return archive.letter_json(
        letter, url_for("api_letters.letter_pdf", number=letter.number, _external=True)
    )


@bp.post("/contributions/<int:cid>/letter")
@api_requires("letters")
def generate(cid: int):
    c = db.session.get(Contribution, cid)
    if c is None:
        return api_error(404, "No contribution with this id.")
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return api_error(400, "The body must be a JSON object.")
    mode = body.get("mode", "joint")
    force = body.get("force", False)
    if not isinstance(force, bool):
        return api_error(422, "Invalid input.", {"force": "Must be true or false."})
    try:
        made, created = archive.generate_thank_you(c, by=api_user(), mode=mode, force=force)
    except Invalid as exc:
        db.session.rollback()
        return api_error(422, "Invalid input.", exc.fields)
    except Conflict as exc:
        db.session.rollback()
        return api_error(409, str(exc))
    db.session.commit()
    return {
        "contribution": c.reference,
        "thank_status": c.thank_status,
        "created": created,
        "letters": [_json(letter) for letter in made],
    }, 201 if created else 200


@bp.get("/contributions/<int:cid>/letter")
@api_requires("letters_download")
def contribution_letters(cid: int):
    c = db.session.get(Contribution, cid)
    if c is None:
        return api_error(404, "No contribution with this id.")
    return {
        "contribution": c.reference,
        "thank_status": c.thank_status,
        "letters": [_json(letter) for letter in archive.letters_for(c)],
    }


def _letter(number: int) -> Letter | None:
    return db.session.execute(select(Letter).where(Letter.number == number)).scalar()


@bp.get("/letters/<int:number>")
@api_requires("letters_download")
def letter(number: int):
    found = _letter(number)
    if found is None:
        return api_error(404, "No letter with this number.")
    return _json(found)


@bp.get("/letters/<int:number>.pdf")
@api_requires("letters_download")
def letter_pdf(number: int):
    found = _letter(number)
    if found is None:
        return api_error(404, "No letter with this number.")
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


_ERROR = {"$ref": "#/components/schemas/Error"}
_LETTER = {
    "type": "object",
    "properties": {
        "number": {"type": "integer"},
        "kind": {"enum": ["thank_you", "statement"]},
        "status": {"enum": ["drafted", "sent"]},
        "sent_via": {"enum": ["print", "email", None]},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": "integer"},
        "language": {"enum": ["bilingual", "km", "en"]},
        "issued_on": {"type": "string", "format": "date"},
        "contribution": {"type": ["string", "null"]},
        "donor_id": {"type": ["integer", "null"]},
        "year": {"type": ["integer", "null"]},
        "recipients": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name_en": {"type": "string"},
                    "name_km": {"type": ["string", "null"]},
                },
            },
        },
        "text_version": {"type": ["integer", "null"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "generated_by": {"type": ["string", "null"]},
        "pdf_url": {"type": "string", "format": "uri"},
    },
}
_LETTERS = {
    "type": "object",
    "properties": {
        "contribution": {"type": "string"},
        "thank_status": {"type": "string"},
        "created": {"type": "boolean"},
        "letters": {"type": "array", "items": _LETTER},
    },
}


def _errors(*codes: int) -> dict:
    text = {
        400: "Bad request",
        401: "No valid token",
        403: "Role may not do this",
        404: "Not found",
        409: "Void or 'do not acknowledge'",
        422: "Invalid input",
        500: "Archived PDF missing or altered",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
        for c in codes
    }


def letters_openapi_paths() -> dict:
    """OpenAPI 3.1 path items of this module, for the lead to merge into the API document."""
    return {**_letters_paths(), **letter_batches_openapi_paths()}


def _letters_paths() -> dict:
    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
    cid = {"name": "cid", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "/api/v1/contributions/{cid}/letter": {
            "post": {
                "summary": "Generate the gift's thank-you letter, or return the archived one",
                "description": "Board or admin token. Numbers are sequential without gaps. "
                "An existing letter is returned (200) unless force is true.",
                "tags": ["letters"],
                "parameters": [cid],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "mode": {
                                        "enum": ["joint", "each"],
                                        "default": "joint",
                                        "description": "Joint gift: one letter to all co-donors, "
                                        "or one letter each",
                                    },
                                    "force": {
                                        "type": "boolean",
                                        "default": False,
                                        "description": "Generate a new letter (new number) even "
                                        "if one exists",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Generated",
                        "content": {"application/json": {"schema": _LETTERS}},
                    },
                    "200": {
                        "description": "Already archived",
                        "content": {"application/json": {"schema": _LETTERS}},
                    },
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
            "get": {
                "summary": "The gift's archived letters",
                "tags": ["letters"],
                "parameters": [cid],
                "responses": {
                    "200": {
                        "description": "Letters",
                        "content": {"application/json": {"schema": _LETTERS}},
                    },
                    **_errors(401, 403, 404),
                },
            },
        },
        "/api/v1/letters/{number}": {
            "get": {
                "summary": "One archived letter",
                "tags": ["letters"],
                "parameters": [number],
                "responses": {
                    "200": {
                        "description": "The letter",
                        "content": {"application/json": {"schema": _LETTER}},
                    },
                    **_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/letters/{number}.pdf": {
            "get": {
                "summary": "The archived PDF, byte for byte (ETag: its SHA-256)",
                "description": "Board, admin or treasurer token.",
                "tags": ["letters"],
                "parameters": [number],
                "responses": {
                    "200": {
                        "description": "PDF/A",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **_errors(401, 403, 404, 500),
                },
            }
        },
    }


# --- letter batches: queued as jobs, followed by polling -----------------------------------


def _batch_json(batch: LetterBatch) -> dict:
    done = batch.status == "done"
    return {
        "id": batch.id,
        "url": url_for("api_letters.letter_batch", batch_id=batch.id, _external=True),
        "status": batch.status,
        "mode": batch.mode,
        "total": batch.total,
        "done": batch.done,
        "eta_seconds": jobs.batch_eta_seconds(batch),
        "error": batch.error,
        "created_at": batch.created_at.isoformat(),
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "letters": [letter.number for letter in jobs.batch_letters(batch)] if done else [],
        "pdf_url": url_for("api_letters.letter_batch_pdf", batch_id=batch.id, _external=True)
        if done
        else None,
        "zip_url": url_for("api_letters.letter_batch_zip", batch_id=batch.id, _external=True)
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
        isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
    ):
        return 422, "Invalid input.", {"contribution_ids": "Must be a list of contribution ids."}
    return ids


@bp.post("/letter-batches")
@api_requires("letters")
def create_letter_batch():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "The body must be a JSON object.")
    ids = _batch_ids(body)
    if isinstance(ids, tuple):
        return api_error(*ids)
    mode = body.get("mode", "joint")
    try:
        batch = jobs.create_batch(ids, mode=mode if isinstance(mode, str) else "", by=api_user())
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
@api_requires("letters_download")
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
@api_requires("letters_download")
def letter_batch_pdf(batch_id: int):
    return _batch_download(batch_id, "pdf")


@bp.get("/letter-batches/<int:batch_id>.zip")
@api_requires("letters_download")
def letter_batch_zip(batch_id: int):
    return _batch_download(batch_id, "zip")


_BATCH = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string", "format": "uri"},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "mode": {"enum": ["joint", "each"]},
        "total": {"type": "integer", "description": "Gifts in the batch"},
        "done": {"type": "integer", "description": "Gifts whose letters are made"},
        "eta_seconds": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "letters": {"type": "array", "items": {"type": "integer"}, "description": "Numbers"},
        "pdf_url": {"type": ["string", "null"], "format": "uri"},
        "zip_url": {"type": ["string", "null"], "format": "uri"},
    },
}


def letter_batches_openapi_paths() -> dict:
    """OpenAPI path items of the letter-batch API."""
    batch_id = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "integer"}}

    def download(mimetype: str, summary: str) -> dict:
        return {
            "get": {
                "summary": summary,
                "tags": ["letters"],
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(401, 403, 404, 500),
                    "409": {
                        "description": "The batch is not finished",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        }

    return {
        "/api/v1/letter-batches": {
            "post": {
                "summary": "Queue the letters of many gifts as one batch (a background job)",
                "description": "Board or admin token. Answers at once with 202 and the batch's "
                "URL in Location; poll it for progress.",
                "tags": ["letters"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "contribution_ids": {
                                        "type": "array",
                                        "items": {"type": "integer"},
                                    },
                                    "all_unthanked": {
                                        "type": "boolean",
                                        "description": "Every gift waiting for a letter",
                                    },
                                    "mode": {"enum": ["joint", "each"], "default": "joint"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Queued",
                        "headers": {
                            "Location": {
                                "description": "The batch's URL",
                                "schema": {"type": "string", "format": "uri"},
                            }
                        },
                        "content": {"application/json": {"schema": _BATCH}},
                    },
                    **_errors(400, 401, 403, 422),
                },
            }
        },
        "/api/v1/letter-batches/{batch_id}": {
            "get": {
                "summary": "A batch's status and progress; links to its PDF and ZIP when done",
                "tags": ["letters"],
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The batch",
                        "content": {"application/json": {"schema": _BATCH}},
                    },
                    **_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/letter-batches/{batch_id}.pdf": download(
            "application/pdf", "The batch's letters as one print-ready PDF"
        ),
        "/api/v1/letter-batches/{batch_id}.zip": download(
            "application/zip", "The batch's letters as a ZIP of single PDFs"
        ),
    }
