from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ceroc_donations import filters
from ceroc_donations.book import queries
from ceroc_donations.book import service as book
from ceroc_donations.book.countries import country_choices, country_name
from ceroc_donations.book.inputs import MAX_ID, Invalid, db_id, parse_donor
from ceroc_donations.book.models import Donor
from ceroc_donations.extensions import db
from ceroc_donations.i18n import locale_code
from ceroc_donations.letters.data import paper_size
from ceroc_donations.security import requires

bp = Blueprint("donors", __name__, url_prefix="/donors")
PAGE = 50

# Donor records hold contact details: only the roles that see names as recorded (treasurer,
# board, admin; capability ``donor_names``) open them. Members see donors on the ledger and
# the contributions pages, as the public does (see :mod:`ceroc_donations.privacy`).


@bp.get("/")
@requires("donor_names")
def index():
    args = filters.lenient(request.args)
    q = args.text("q") or ""
    # The last page whose offset a database integer still holds; past it, page 1.
    page = args.number("page", 1, MAX_ID // PAGE, default=1)
    donors = queries.search_donors(q or None, limit=PAGE + 1, offset=(page - 1) * PAGE)
    return render_template(
        "book/donors/index.html", donors=donors[:PAGE], q=q, page=page, has_more=len(donors) > PAGE
    )


@bp.get("/search.json")
@requires("donor_names")
def search_json():
    """Search-as-you-type for the donor picker."""
    q = filters.lenient(request.args).text("q")
    donors = queries.search_donors(q, limit=15)
    return jsonify(
        [
            {
                "id": d.id,
                "name_en": d.name_en,
                "name_km": d.name_km,
                "city": d.city,
                "country": d.country,
            }
            for d in donors
        ]
    )


@bp.route("/new", methods=["GET", "POST"])
@requires("write_book")
def new():
    errors: dict = {}
    values = request.form if request.method == "POST" else {}
    duplicates: list[Donor] = []
    if request.method == "POST":
        try:
            data = parse_donor(request.form)
        except Invalid as exc:
            errors = exc.fields
        else:
            # "A donor named X already exists — open it / create anyway"
            if not request.form.get("create_anyway"):
                duplicates = queries.donors_named_like(data.name_en, data.name_km)
            if not duplicates:
                donor = book.create_donor(data, by=current_user)
                db.session.commit()
                flash(_("Donor %(name)s added.", name=donor.name_en), "success")
                if request.form.get("then") == "contribution":
                    return redirect(url_for("contributions.new", donor=donor.id))
                return redirect(url_for("donors.detail", donor_id=donor.id))
    return render_template(
        "book/donors/form.html",
        donor=None,
        values=values,
        errors=errors,
        duplicates=duplicates,
        countries=country_choices(locale_code(), values.get("country")),
    ), (422 if errors else 200)


@bp.get("/<int:donor_id>")
@requires("donor_names")
def detail(donor_id: int):
    donor = db.session.get(Donor, donor_id) or abort(404)
    gifts, years = queries.donor_history(donor)
    return render_template(
        "book/donors/detail.html",
        donor=donor,
        gifts=gifts,
        years=years,
        country=country_name(donor.country, locale_code()),
        paper=paper_size(donor.country, donor.paper),
    )


@bp.route("/<int:donor_id>/edit", methods=["GET", "POST"])
@requires("write_book")
def edit(donor_id: int):
    donor = db.session.get(Donor, donor_id) or abort(404)
    errors: dict = {}
    values = request.form if request.method == "POST" else book.donor_snapshot(donor)
    if request.method == "POST":
        try:
            book.update_donor(donor, parse_donor(request.form), by=current_user)
        except Invalid as exc:
            errors = exc.fields
        else:
            db.session.commit()
            flash(_("Donor %(name)s saved.", name=donor.name_en), "success")
            return redirect(url_for("donors.detail", donor_id=donor.id))
    return render_template(
        "book/donors/form.html",
        donor=donor,
        values=values,
        errors=errors,
        countries=country_choices(locale_code(), values.get("country")),
    ), (422 if errors else 200)


@bp.route("/<int:donor_id>/merge", methods=["GET", "POST"])
@requires("write_book")
def merge(donor_id: int):
    """Merge another donor into this one (kept): its gifts and letters move here."""
    keep = db.session.get(Donor, donor_id) or abort(404)
    other_id = db_id(request.values.get("other", ""))
    other = db.session.get(Donor, other_id) if other_id else None
    if request.method == "POST":
        if other is None or other.id == keep.id:
            flash(_("Choose the donor to merge into this one."), "error")
            return redirect(url_for("donors.merge", donor_id=keep.id))
        name = other.name_en
        book.merge_donors(keep, other, by=current_user)
        db.session.commit()
        flash(_("%(other)s merged into %(name)s.", other=name, name=keep.name_en), "success")
        return redirect(url_for("donors.detail", donor_id=keep.id))
    if other is not None and other.id != keep.id:
        return render_template(
            "book/donors/merge.html",
            keep=keep,
            other=other,
            counts={d.id: queries.donor_counts(d) for d in (keep, other)},
        )
    q = (request.args.get("q") or "").strip()[:100]
    likely = queries.donors_named_like(keep.name_en, keep.name_km, exclude=keep.id)
    found = [d for d in queries.search_donors(q, limit=30) if d.id != keep.id] if q else []
    return render_template(
        "book/donors/merge.html", keep=keep, other=None, likely=likely, found=found, q=q
    )
