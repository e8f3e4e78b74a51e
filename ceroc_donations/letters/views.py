"""Thank-you letters: queue, batches, previews, archive downloads, sending, text versions.

Each view parses the request, calls one service of the letters package, commits, and
flashes and redirects or renders. The rules live in the services.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import escape

from ceroc_donations.accounts import settings
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import LETTER_LANGUAGES, Contribution, Donor
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.filters import whole_number
from ceroc_donations.letters import archive, delivery, jobs
from ceroc_donations.letters import data as letter_data
from ceroc_donations.letters import texts as letter_texts
from ceroc_donations.letters.models import Letter, LetterBatch, LetterEmail
from ceroc_donations.rendering import FONT_FILES, LETTERS_DIR, PLACEHOLDERS, PlaceholderError
from ceroc_donations.rendering.fonts import FONT_FACES
from ceroc_donations.security import can, requires

bp = Blueprint("letters", __name__, url_prefix="/letters")

#: The letter preview may load our stylesheet and fonts and nothing else: no script.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


bp.add_app_template_global(archive.letters_for, "contribution_letters")
bp.add_app_template_global(archive.letters_to, "donor_letters")
bp.add_app_template_global(delivery.co_donor_statuses)
bp.add_app_template_global(delivery.co_donor_status)
bp.add_app_template_global(delivery.email_configured)


def _letter(number: int) -> Letter:
    return archive.letter_by_number(number) or abort(404)


def _pdf_response(pdf: bytes, filename: str, *, inline: bool = False) -> Response:
    response = Response(pdf, mimetype="application/pdf")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _preview_response(html: str, status: int = 200) -> Response:
    """The letter HTML for an iframe, styled like the PDF, under a strict CSP."""
    sheets = [
        url_for("letters.design", name="fonts.css"),
        url_for("letters.design", name="letter.css"),
        url_for("static", filename="css/letter-preview.css"),
    ]
    links = "".join(f'<link rel="stylesheet" href="{href}">' for href in sheets)
    html = html.replace("</head>", links + "</head>", 1)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _problem_page(messages: dict[str, str] | list[str], status: int = 422) -> Response:
    items = messages.items() if isinstance(messages, dict) else enumerate(messages)
    body = "".join(f"<li>{escape(v)}</li>" for _, v in items)
    return _preview_response(
        f"<!doctype html><html><head><title>{escape(_('Cannot preview'))}</title></head>"
        f"<body class='problems'><p>{escape(_('Correct the texts to see the preview:'))}</p>"
        f"<ul>{body}</ul></body></html>",
        status,
    )


# --- design files for the browser preview (public: our CSS and the free fonts) --------------


@lru_cache(maxsize=16)
def _design_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@bp.get("/design/<name>")
def design(name: str):
    if name == "letter.css":
        return Response(
            _design_bytes(str(LETTERS_DIR / "letter.css")),
            mimetype="text/css",
            headers={"Cache-Control": "max-age=3600"},
        )
    if name == "fonts.css":
        rules = "\n".join(
            f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
            f'src: url("{url_for("letters.design", name=key + ".ttf")}") format("truetype"); }}'
            for family, weight, key in FONT_FACES
        )
        return Response(rules, mimetype="text/css", headers={"Cache-Control": "max-age=3600"})
    key = name.removesuffix(".ttf")
    if name.endswith(".ttf") and key in FONT_FILES:
        return Response(
            _design_bytes(str(FONT_FILES[key])),
            mimetype="font/ttf",
            headers={"Cache-Control": "max-age=86400"},
        )
    abort(404)


# --- the queue and batches ---------------------------------------------------------------


def _queue_page(f, errors, *, page: int = 1, ticked=(), ticked_paper="auto", status: int = 200):
    """The queue page for filter *f*: its tab's gifts, a page at a time, with the counts."""
    size = current_app.config["PAGE_SIZE"]
    gifts, matching = delivery.queue_page(f, page, size)
    return render_template(
        "letters/queue.html",
        gifts=gifts,
        matching=matching,
        page=page,
        pages=max(1, -(-matching // size)),
        filter=f,
        counts=delivery.queue_counts(f),
        errors=errors,
        ticked=set(ticked),
        ticked_paper=ticked_paper,
        funds=delivery.queue_funds(),
        years=delivery.queue_years(),
        languages=LETTER_LANGUAGES,
        batches=jobs.recent_batches(),
        running=jobs.running_batches(),
        can_generate=can(current_user, "letters"),
    ), status


@bp.get("/")
@requires("letters_download")
def queue():
    f, errors = delivery.queue_filter(request.args)
    page = whole_number(request.args.get("page"), 1, 10**6) or 1
    return _queue_page(f, errors, page=page)


def _ticked() -> list[int]:
    return [i for i in (whole_number(v, 1) for v in request.form.getlist("ids")) if i]


def _every() -> bool:
    """Whether the form asks for every gift matching its filter, not just the ticked ones."""
    return request.form.get("select") == "all" or request.form.get("all") == "1"


@bp.post("/batches")
@requires("letters")
def create_batch():
    f, _errors = delivery.queue_filter(request.form)
    ids = [c.id for c in delivery.queue(f)] if _every() else _ticked()
    try:
        batch = jobs.create_batch(
            ids,
            mode=request.form.get("mode", "joint"),
            paper=request.form.get("paper", "auto"),
            by=current_user,
        )
    except Invalid as exc:
        db.session.rollback()
        paper = request.form.get("paper", "auto")
        return _queue_page(f, exc.fields, ticked=ids, ticked_paper=paper, status=422)
    batch_id = batch.id
    db.session.commit()
    jobs.start_batch(batch_id)
    return redirect(url_for("letters.batch", batch_id=batch_id))


def _selected(f) -> list[Contribution]:
    return delivery.selected_gifts(f, _ticked(), every=_every())


@bp.post("/queue/sent")
@requires("letters")
def mark_selected_sent():
    f, _errors = delivery.queue_filter(request.form)
    gifts = _selected(f)
    if not gifts:
        return _queue_page(f, {"ids": _("Tick at least one gift.")}, status=422)
    count = delivery.mark_gifts_sent(gifts, by=current_user)
    db.session.commit()
    flash(_("%(n)d letters marked as printed and sent.", n=count), "success")
    return redirect(url_for("letters.queue", **f.as_args()))


@bp.post("/queue/letters.pdf")
@requires("letters_download")
def download_selected():
    """One print PDF of the selected gifts' letters not yet sent."""
    f, _errors = delivery.queue_filter(request.form)
    found = delivery.unsent_letters_of(_selected(f))
    if not found:
        message = _("The ticked gifts have no letter waiting to be sent.")
        return _queue_page(f, {"ids": message}, status=422)
    try:
        pdf = archive.combined_pdf(found)
    except archive.ArchiveError as exc:
        return _archive_damaged(exc)
    return _pdf_response(pdf, "CEROC-letters-to-send.pdf")


@bp.post("/batches/<int:batch_id>/restart")
@requires("letters")
def restart_batch(batch_id: int):
    try:
        jobs.restart_batch(_batch_or_404(batch_id), by=current_user)
    except Conflict as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("letters.batch", batch_id=batch_id))
    db.session.commit()
    jobs.start_batch(batch_id)
    return redirect(url_for("letters.batch", batch_id=batch_id))


def _batch_or_404(batch_id: int) -> LetterBatch:
    return db.session.get(LetterBatch, batch_id) or abort(404)


def eta_text(seconds: int | None) -> str | None:
    """The time left as people say it: "under a minute", "about 3 minutes"."""
    if seconds is None:
        return None
    if seconds < 60:
        return _("under a minute left")
    if seconds < 120:
        return _("about a minute left")
    return _("about %(n)d minutes left", n=round(seconds / 60))


def _batch_status(batch: LetterBatch) -> dict:
    eta = jobs.batch_eta_seconds(batch)
    return {
        "id": batch.id,
        "status": batch.status,
        "total": batch.total,
        "done": batch.done,
        "eta_seconds": eta,
        "eta_text": eta_text(eta),
        "error": batch.error,
        "pdf_url": url_for("letters.batch_pdf", batch_id=batch.id),
        "zip_url": url_for("letters.batch_zip", batch_id=batch.id),
    }


@bp.get("/batches/<int:batch_id>")
@requires("letters_download")
def batch(batch_id: int):
    b = _batch_or_404(batch_id)
    return render_template(
        "letters/batch.html",
        batch=b,
        status=_batch_status(b),
        letters=jobs.batch_letters(b) if b.status == "done" else [],
        can_generate=can(current_user, "letters"),
    )


@bp.get("/batches/<int:batch_id>.json")
@requires("letters_download")
def batch_status(batch_id: int):
    return jsonify(_batch_status(_batch_or_404(batch_id)))


def _archive_damaged(exc: Exception):
    """A letter file is missing or no longer matches its SHA-256: say so, serve nothing."""
    return render_template(
        "error.html", status=500, title=_("Archive damaged"), message=str(exc)
    ), 500


def _finished_letters(batch_id: int) -> list[Letter]:
    b = _batch_or_404(batch_id)
    found = jobs.batch_letters(b)
    if b.status != "done" or not found:
        abort(404)
    return found


@bp.get("/batches/<int:batch_id>.pdf")
@requires("letters_download")
def batch_pdf(batch_id: int):
    found = _finished_letters(batch_id)
    try:
        pdf = archive.combined_pdf(found)
    except archive.ArchiveError as exc:
        return _archive_damaged(exc)
    return _pdf_response(pdf, f"CEROC-letters-batch-{batch_id}.pdf")


@bp.get("/batches/<int:batch_id>.zip")
@requires("letters_download")
def batch_zip(batch_id: int):
    found = _finished_letters(batch_id)
    try:
        data = archive.zip_of(found)
    except archive.ArchiveError as exc:
        return _archive_damaged(exc)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="CEROC-letters-batch-{batch_id}.zip"'
    )
    return response


@bp.post("/batches/<int:batch_id>/sent")
@requires("letters")
def batch_sent(batch_id: int):
    count = delivery.mark_batch_sent(_batch_or_404(batch_id), by=current_user)
    db.session.commit()
    flash(_("%(n)d letters marked as printed and sent.", n=count), "success")
    return redirect(url_for("letters.queue"))


# --- one contribution --------------------------------------------------------------------


def _contribution(cid: int) -> Contribution:
    return db.session.get(Contribution, cid) or abort(404)


@bp.get("/contributions/<int:cid>/preview")
@requires("letters_download")
def preview(cid: int):
    c = _contribution(cid)
    try:
        data = letter_data.draft_data(c, request.args.get("mode", "joint"))
        return _preview_response(archive.preview_html(data, letter_texts.current_texts()[0]))
    except (Invalid, PlaceholderError) as exc:
        return _problem_page(getattr(exc, "fields", None) or getattr(exc, "messages", []))


@bp.get("/contributions/<int:cid>/draft.pdf")
@requires("letters_download")
def draft_pdf(cid: int):
    """The letter as it would be generated now: marked DRAFT, unnumbered, not archived."""
    c = _contribution(cid)
    try:
        data = letter_data.draft_data(c, request.args.get("mode", "joint"))
    except Invalid:
        abort(404)
    pdf = archive.render_pdf(data, letter_texts.current_texts()[0])
    return _pdf_response(pdf, f"CEROC-draft-{c.reference}.pdf")


@bp.post("/contributions/<int:cid>/generate")
@requires("letters")
def generate(cid: int):
    c = _contribution(cid)
    try:
        made, created = archive.generate_thank_you(
            c,
            by=current_user,
            mode=request.form.get("mode", "joint"),
            force=request.form.get("again") == "1",
        )
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash(_message(exc), "error")
        return redirect(url_for("contributions.detail", cid=cid) + "#thank-you-letter")
    db.session.commit()
    numbers = ", ".join(str(m.number) for m in made)
    if created:
        flash(_("Letter %(numbers)s generated and archived.", numbers=numbers), "success")
    else:
        flash(_("Letter %(numbers)s already exists: download it below.", numbers=numbers), "info")
    return redirect(url_for("contributions.detail", cid=cid) + "#thank-you-letter")


@bp.post("/contributions/<int:cid>/status")
@requires("letters")
def set_status(cid: int):
    c = _contribution(cid)
    try:
        delivery.set_by_hand(c, request.form.get("status", ""), by=current_user)
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash(_message(exc), "error")
        return redirect(_local_next())
    db.session.commit()
    flash(_("%(ref)s updated.", ref=c.reference), "success")
    return redirect(_local_next())


def _local_next() -> str:
    """The form's ``next`` when it is a path on this site; the queue otherwise."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("letters.queue")


def _message(exc: Invalid | Conflict) -> str:
    return " ".join(exc.fields.values()) if isinstance(exc, Invalid) else str(exc)


# --- archived letters --------------------------------------------------------------------


@bp.get("/<int:number>.pdf")
@requires("letters_download")
def download(number: int):
    letter = _letter(number)
    try:
        pdf = archive.read_pdf(letter)
    except archive.ArchiveError as exc:
        return _archive_damaged(exc)
    return _pdf_response(pdf, archive.pdf_filename(letter), inline=request.args.get("view") == "1")


def _back(letter: Letter) -> str:
    if letter.contribution_id:
        return url_for("contributions.detail", cid=letter.contribution_id) + "#thank-you-letter"
    return url_for("donors.detail", donor_id=letter.donor_id) + "#letters"


@bp.post("/<int:number>/sent")
@requires("letters")
def mark_sent(number: int):
    letter = _letter(number)
    delivery.mark_sent(letter, "print", by=current_user)
    db.session.commit()
    flash(_("Letter %(n)d marked as printed and handed over.", n=number), "success")
    return redirect(_back(letter))


@bp.post("/<int:number>/email")
@requires("letters")
def email(number: int):
    letter = _letter(number)
    try:
        row = delivery.request_email(letter, by=current_user)
    except (delivery.MailError, archive.ArchiveError, Conflict) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(_back(letter))
    email_id, to, back = row.id, row.to, _back(letter)
    db.session.commit()
    delivery.start_email(email_id)
    status = db.session.get(LetterEmail, email_id).status  # immediate mode: already done
    if status == "sent":
        flash(_("Letter %(n)d emailed to %(to)s.", n=number, to=to), "success")
    elif status == "failed":
        flash(delivery.email_failure_message(), "error")
    else:
        flash(_("Letter %(n)d is being emailed to %(to)s.", n=number, to=to), "info")
    return redirect(back)


# --- yearly statements -------------------------------------------------------------------


@bp.post("/donors/<int:donor_id>/statement")
@requires("letters")
def statement(donor_id: int):
    donor = db.session.get(Donor, donor_id) or abort(404)
    year = whole_number(request.form.get("year"))
    try:
        letter = archive.generate_statement(donor, year, by=current_user)
    except Invalid as exc:
        db.session.rollback()
        flash(" ".join(exc.fields.values()), "error")
        return redirect(url_for("donors.detail", donor_id=donor_id) + "#letters")
    db.session.commit()
    flash(_("Statement %(n)d for %(year)s generated.", n=letter.number, year=year), "success")
    return redirect(url_for("donors.detail", donor_id=donor_id) + "#letters")


# --- the board's texts -------------------------------------------------------------------


def _texts_page(values, errors, status=200):
    return render_template(
        "letters/texts.html",
        values=values,
        errors=errors,
        versions=letter_texts.recent_versions(),
        fields=letter_texts.EDITABLE_FIELDS,
        placeholders=PLACEHOLDERS,
        multiline=letter_texts.MULTILINE_FIELDS,
        signatory_default=settings.signatory_name_km(),
    ), status


@bp.get("/texts")
@requires("letters")
def texts():
    texts, _version = letter_texts.current_texts()
    return _texts_page(letter_texts.texts_to_dict(texts), {})


@bp.post("/texts")
@requires("letters")
def save_texts():
    try:
        texts = letter_texts.parse_texts(request.form)
    except Invalid as exc:
        db.session.rollback()
        values = {
            **letter_texts.texts_to_dict(letter_texts.current_texts()[0]),
            **request.form.to_dict(),
        }
        return _texts_page(values, exc.fields, 422)
    version = letter_texts.save_texts(texts, by=current_user)
    db.session.commit()
    flash(
        _("Letter texts saved as version %(n)d; new letters use it.", n=version.number), "success"
    )
    return redirect(url_for("letters.texts"))


@bp.post("/texts/preview")
@requires("letters")
def preview_texts():
    try:
        texts = letter_texts.parse_texts(request.form)
    except Invalid as exc:
        return _problem_page(exc.fields)
    kind = "statement" if request.form.get("kind") == "statement" else "thank_you"
    data = letter_data.sample_data(kind)
    return _preview_response(archive.preview_html(data, texts, kind))
