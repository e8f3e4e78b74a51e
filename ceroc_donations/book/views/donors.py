from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ceroc_donations import filters
from ceroc_donations.book import queries
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import MAX_ID, Invalid, parse_donor
from ceroc_donations.book.models import Donor
from ceroc_donations.extensions import db
from ceroc_donations.security import requires

bp = Blueprint("donors", __name__, url_prefix="/donors")
PAGE = 50


@bp.get("/")
@requires("read")
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
@requires("read")
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
    if request.method == "POST":
        try:
            donor = book.create_donor(parse_donor(request.form), by=current_user)
        except Invalid as exc:
            errors = exc.fields
        else:
            db.session.commit()
            flash(_("Donor %(name)s added.", name=donor.name_en), "success")
            if request.form.get("then") == "contribution":
                return redirect(url_for("contributions.new", donor=donor.id))
            return redirect(url_for("donors.detail", donor_id=donor.id))
    return render_template("book/donors/form.html", donor=None, values=values, errors=errors), (
        422 if errors else 200
    )


@bp.get("/<int:donor_id>")
@requires("read")
def detail(donor_id: int):
    donor = db.session.get(Donor, donor_id) or abort(404)
    gifts, years = queries.donor_history(donor)
    return render_template("book/donors/detail.html", donor=donor, gifts=gifts, years=years)


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
    return render_template("book/donors/form.html", donor=donor, values=values, errors=errors), (
        422 if errors else 200
    )
