"""CSV import of contributions: upload, preview with every row's errors, confirm all or none."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ceroc_donations.extensions import db
from ceroc_donations.filters import whole_number
from ceroc_donations.imports import service as csv_import
from ceroc_donations.imports.service import FileProblem, ImportNotFound, NotReady
from ceroc_donations.security import requires

bp = Blueprint("imports", __name__, url_prefix="/contributions/import")


def _upload_form(error: str | None = None, status: int = 200):
    max_bytes, max_rows = csv_import.limits()
    return render_template(
        "imports/upload.html",
        error=error,
        columns=csv_import.COLUMNS,
        required=csv_import.REQUIRED,
        max_rows=max_rows,
        max_size=csv_import._size(max_bytes),
    ), status


def _not_found(exc: ImportNotFound):
    return render_template(
        "error.html", status=400, title=_("Import not found"), message=str(exc)
    ), 400


def _preview_page(
    token: str,
    checked: csv_import.Preview,
    meta: dict,
    *,
    message: str | None = None,
    acknowledged=frozenset(),
    status: int = 200,
):
    return render_template(
        "imports/preview.html",
        token=token,
        p=checked,
        meta=meta,
        columns=csv_import.COLUMNS,
        message=message,
        acknowledged=acknowledged,
    ), status


@bp.route("", methods=["GET", "POST"])
@requires("write_book")
def contributions():
    if request.method == "GET":
        return _upload_form()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _upload_form(_("Choose a CSV file to upload."), 422)
    content = upload.read(csv_import.limits()[0] + 1)
    try:
        csv_import.read_rows(content)
    except FileProblem as exc:
        return _upload_form(str(exc), 422)
    token = csv_import.store_upload(content, upload.filename, by=current_user)
    return redirect(url_for("imports.preview", token=token))


@bp.get("/template.csv")
@requires("write_book")
def template():
    return Response(
        csv_import.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="contributions-template.csv"'},
    )


@bp.get("/preview")
@requires("write_book")
def preview():
    token = request.args.get("token", "")
    try:
        content, meta = csv_import.load_upload(token, by=current_user)
        checked = csv_import.preview(
            content, create_missing=request.args.get("create_missing") == "1"
        )
    except ImportNotFound as exc:
        return _not_found(exc)
    except FileProblem as exc:
        return _upload_form(str(exc), 422)
    return _preview_page(token, checked, meta)


@bp.post("/confirm")
@requires("write_book")
def confirm():
    token = request.form.get("token", "")
    acknowledged = {n for n in map(whole_number, request.form.getlist("ack")) if n is not None}
    try:
        content, meta = csv_import.load_upload(
            token, by=current_user, sha256=request.form.get("sha256", "")
        )
        result = csv_import.run_import(
            content,
            token=token,
            create_missing=request.form.get("create_missing") == "1",
            acknowledged=acknowledged,
            by=current_user,
            filename=meta.get("filename"),
        )
    except ImportNotFound as exc:
        db.session.rollback()
        return _not_found(exc)
    except FileProblem as exc:
        db.session.rollback()
        return _upload_form(str(exc), 422)
    except NotReady as exc:
        db.session.rollback()
        return _preview_page(
            token, exc.preview, meta, message=str(exc), acknowledged=acknowledged, status=422
        )
    except Exception:
        db.session.rollback()
        raise
    if result.already_imported:
        db.session.rollback()
        flash(_("This file was already imported: nothing more was added."), "info")
        return redirect(url_for("contributions.index"))
    db.session.commit()
    first, last = result.contributions[0].reference, result.contributions[-1].reference
    flash(
        _(
            "%(n)d contributions imported (%(first)s … %(last)s); %(d)d new donors.",
            n=len(result.contributions),
            first=first,
            last=last,
            d=len(result.created_donors),
        ),
        "success",
    )
    return redirect(url_for("contributions.index"))
