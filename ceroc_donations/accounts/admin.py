from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ceroc_donations import audit
from ceroc_donations.accounts import service as users
from ceroc_donations.accounts.models import ROLES, User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.extensions import db
from ceroc_donations.security import requires

bp = Blueprint("admin", __name__)


@bp.get("/audit")
@requires("write_book")
def audit_log():
    """The audit trail, newest first; treasurers and admins."""
    before = request.args.get("before", "")
    entity = request.args.get("entity")
    if entity not in audit.ENTITY_TYPES:
        entity = None
    events = audit.recent(51, before=int(before) if before.isdigit() else None, entity=entity)
    return render_template(
        "accounts/audit.html",
        events=events[:50],
        entity=entity,
        older=events[49].seq if len(events) > 50 else None,
    )


@bp.post("/audit/verify")
@requires("write_book")
def audit_verify():
    count, problems = audit.verify()
    if problems:
        flash(
            _(
                "Audit chain: %(n)d problems found in %(count)d events.",
                n=len(problems),
                count=count,
            ),
            "error",
        )
        for p in problems[:10]:
            flash(_("Event %(seq)d: %(problem)s", seq=p.seq, problem=p.message), "error")
    else:
        flash(_("Audit chain intact: %(count)d events checked.", count=count), "success")
    return redirect(url_for("admin.audit_log"))


@bp.route("/users", methods=["GET", "POST"])
@requires("admin")
def user_list():
    errors: dict = {}
    if request.method == "POST":
        try:
            user = users.create_user(
                request.form.get("email", "").strip(),
                request.form.get("name", ""),
                request.form.get("role", ""),
                request.form.get("password", ""),
                by=current_user,
            )
        except Invalid as exc:
            errors = exc.fields
        else:
            db.session.commit()
            flash(_("Account for %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.user_list"))
    people = list(db.session.execute(select(User).order_by(User.role, User.email)).scalars())
    return render_template(
        "accounts/users.html", users=people, roles=ROLES, errors=errors, values=request.form
    ), 422 if errors else 200


@bp.post("/users/<int:user_id>/active")
@requires("admin")
def toggle_active(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    if user.id == current_user.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.user_list"))
    users.set_active(user, not user.active, by=current_user)
    db.session.commit()
    flash(
        _(
            "%(email)s is now %(state)s.",
            email=user.email,
            state=_("active") if user.active else _("disabled"),
        ),
        "success",
    )
    return redirect(url_for("admin.user_list"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@requires("read")
def tokens():
    """Each person makes their own API tokens; a token is shown once."""
    new_token = None
    me = db.session.get(User, current_user.id)
    if request.method == "POST":
        label = (request.form.get("label") or "").strip()[:120] or None
        new_token = users.create_token(me, label, by=me)
        db.session.commit()
    return render_template("accounts/tokens.html", tokens=me.tokens, new_token=new_token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires("read")
def revoke(token_id: int):
    me = db.session.get(User, current_user.id)
    token = next((t for t in me.tokens if t.id == token_id), None) or abort(404)
    users.revoke_token(token, by=me)
    db.session.commit()
    session.modified = True
    flash(_("Token revoked."), "success")
    return redirect(url_for("admin.tokens"))
