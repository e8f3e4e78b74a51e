from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from ceroc_donations import audit, filters
from ceroc_donations.accounts import service as users
from ceroc_donations.accounts.audit_text import describe
from ceroc_donations.accounts.models import ROLES, User
from ceroc_donations.book.inputs import MAX_ID, Invalid
from ceroc_donations.demo import DEMO_USERS
from ceroc_donations.extensions import db
from ceroc_donations.security import can, login_blocked, record_login_failure, requires

bp = Blueprint("admin", __name__)


@bp.get("/audit")
@requires("write_book")
def audit_log():
    """The audit trail, newest first, one sentence per event; treasurers and admins."""
    args = filters.lenient(request.args)
    before = args.number("before", 1, MAX_ID)
    entity = args.choice("entity", audit.ENTITY_TYPES)
    events = audit.recent(51, before=before, entity=entity)
    return render_template(
        "accounts/audit.html",
        head=audit.head(),
        lines=describe(events[:50], show_donor_names=can(current_user, "donor_names")),
        entity=entity,
        older=events[49].seq if len(events) > 50 else None,
    )


@bp.post("/audit/verify")
@requires("write_book")
def audit_verify():
    expect_head = None
    if request.form.get("expect_head", "").strip():
        try:
            expect_head = audit.AuditHead.parse(request.form["expect_head"])
        except ValueError:
            flash(_("Write the head as a number, a colon and 64 hex digits."), "error")
            return redirect(url_for("admin.audit_log"))
    count, problems = audit.verify(expect_head)
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
    elif expect_head is not None:
        flash(
            _(
                "Audit chain intact: %(count)d events checked; it holds the head you kept.",
                count=count,
            ),
            "success",
        )
    else:
        flash(_("Audit chain intact: %(count)d events checked.", count=count), "success")
    return redirect(url_for("admin.audit_log"))


def _users_page(errors: dict | None = None, issued: dict | None = None, status: int = 200):
    people = list(db.session.execute(select(User).order_by(User.role, User.email)).scalars())
    return render_template(
        "accounts/users.html",
        users=people,
        roles=ROLES,
        errors=errors or {},
        values=request.form,
        issued=issued,
        demo_emails={email for email, *_rest in DEMO_USERS},
    ), status


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
    return _users_page(errors, status=422 if errors else 200)


@bp.post("/users/<int:user_id>/role")
@requires("admin")
def change_role(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    try:
        users.set_role(user, request.form.get("role", ""), by=current_user)
    except Invalid as exc:
        return _users_page({f"role-{user.id}": exc.fields["role"]}, status=422)
    db.session.commit()
    flash(_("%(email)s is now %(role)s.", email=user.email, role=_(user.role)), "success")
    return redirect(url_for("admin.user_list"))


# The link and the temporary password are shown in the page answering the POST, never
# flashed: a flashed message would travel in the (signed, not encrypted) session cookie.
@bp.post("/users/<int:user_id>/password")
@requires("admin")
def reset_password(user_id: int):
    """Reset someone else's password: a one-time link or a temporary password (``how``)."""
    user = db.session.get(User, user_id) or abort(404)
    how = request.form.get("how")
    problem = None
    if how not in ("link", "temporary"):
        problem = _("Choose a one-time link or a temporary password.")
    elif user.id == current_user.id:
        problem = _("Change your own password on your account page.")
    elif not user.active:
        problem = _("Enable the account first.")
    if problem:
        flash(problem, "error")
        return redirect(url_for("admin.user_list"))
    if how == "link":
        token = users.issue_reset_link(user, by=current_user)
        issued = {"user": user, "link": url_for("auth.reset_password", token=token, _external=True)}
    else:
        issued = {"user": user, "password": users.set_temporary_password(user, by=current_user)}
    db.session.commit()
    return _users_page(issued=issued)


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


@bp.get("/account")
@requires("read")
def account():
    """The person's own page: password, language, API tokens."""
    return render_template("accounts/account.html", errors={})


@bp.post("/account/password")
@requires("read")
def change_password():
    me = db.session.get(User, current_user.id)
    if login_blocked(me.email):  # guessing the current password is throttled like log-ins
        abort(429)
    try:
        users.change_password(
            me,
            request.form.get("current_password", "")[:1024],
            request.form.get("new_password", ""),
            request.form.get("confirm_password", ""),
        )
    except Invalid as exc:
        db.session.rollback()
        if "current_password" in exc.fields:
            record_login_failure(me.email)
            db.session.commit()
        return render_template("accounts/account.html", errors=exc.fields), 422
    db.session.commit()
    login_user(me)  # this session goes on with the new session version; the others end
    flash(_("Your password is changed. Other sessions of your account were ended."), "success")
    return redirect(url_for("admin.account"))


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
