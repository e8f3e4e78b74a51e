"""JSON API for thank-you letters: generate a gift's letter, read it, download its PDF.

Board and admin tokens generate (capability ``letters``); the treasurer's token may read
and download archived letters (``letters_download``). Browser sessions may call these too,
but a POST without a bearer token must then carry the CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask_login import current_user
from sqlalchemy import select

from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import csrf, db
from ceroc_donations.letters import service as svc
from ceroc_donations.letters.models import Letter
from ceroc_donations.security import api_error, api_requires, api_user
from ceroc_donations.web import external_url

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
    return svc.letter_json(letter, external_url("api_letters.letter_pdf", number=letter.number))


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
        made, created = svc.generate_thank_you(c, by=api_user(), mode=mode, force=force)
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
        "letters": [_json(letter) for letter in svc.letters_for(c)],
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
        pdf = svc.read_pdf(found)
    except svc.ArchiveError as exc:
        return api_error(500, str(exc))
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{svc.pdf_filename(found)}"'
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
