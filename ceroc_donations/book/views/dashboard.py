from __future__ import annotations

import os
from datetime import date

from flask import Blueprint, abort, render_template, send_file
from flask_login import current_user

from ceroc_donations.book import queries, todo
from ceroc_donations.privacy import entry_labels
from ceroc_donations.security import requires

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@requires("read")
def index():
    today = date.today()
    balances = queries.fund_balances()
    this_year = queries.totals(queries.fund_balances(since=date(today.year, 1, 1)))
    recent = queries.recent_entries(5)
    return render_template(
        "book/dashboard.html",
        balances=balances,
        total=queries.totals(balances),
        this_year=this_year,
        year=today.year,
        recent=recent,
        labels=entry_labels(recent, current_user),
        todo=todo.todo_for(current_user),
    )


#: Fonts the pages use, served by the app itself (no CDN), from the Debian packages that
#: README's setup installs.
FONTS = {
    "NotoSansKhmer-Regular.ttf": "/usr/share/fonts/truetype/noto/NotoSansKhmer-Regular.ttf",
    "NotoSansKhmer-Bold.ttf": "/usr/share/fonts/truetype/noto/NotoSansKhmer-Bold.ttf",
}


@bp.get("/fonts/<name>")
def font(name: str):
    path = FONTS.get(name)
    if path is None or not os.path.exists(path):
        abort(404)
    return send_file(path, mimetype="font/ttf", max_age=86400 * 30)
