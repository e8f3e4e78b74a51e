"""Accounts: the account page, password changes and resets, roles, demo marks; all audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from tests.conftest import PASSWORD

NEW = "a-brand-new-password"


def _user(app, name: str) -> User:
    """The test account ``<name>@test.example`` (named after its first role)."""
    with app.app_context():
        email = f"{name}@test.example"
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        db.session.expunge(user)
        return user


def _actions(app) -> list[tuple[str, str, int | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.entity_id).order_by(
                AuditEvent.seq
            )
        ).all()
        return [tuple(r) for r in rows]


def _login(client, role, password=PASSWORD):
    return client.post("/login", data={"email": f"{role}@test.example", "password": password})


def test_the_name_in_the_header_leads_to_the_account_page(client, auth):
    auth.login("member")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/account"' in page
    account = client.get("/account").get_data(as_text=True)
    assert 'action="/account/password"' in account
    assert 'href="/account/tokens"' in account
    assert 'name="lang" value="km"' in account


def test_change_own_password_ends_other_sessions_and_is_audited(app, client, auth):
    other = app.test_client()
    assert _login(other, "member").status_code == 302
    auth.login("member")
    r = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW},
    )
    assert r.status_code == 302
    assert client.get("/").status_code == 200  # this session goes on
    assert other.get("/").status_code == 302  # the other one ended
    client.post("/logout")
    assert _login(client, "member").status_code == 401
    assert _login(client, "member", NEW).status_code == 302
    member = _user(app, "member")
    assert ("member@test.example", "user.password_changed", member.id) in _actions(app)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"current_password": "wrong"}, "current_password", "not your current password"),
        ({"new_password": "short", "confirm_password": "short"}, "new_password", "at least 10"),
        ({"confirm_password": "something-else"}, "confirm_password", "not the same"),
        ({"new_password": PASSWORD, "confirm_password": PASSWORD}, "new_password", "different"),
        (
            {"new_password": "admin-demo-2014", "confirm_password": "admin-demo-2014"},
            "new_password",
            "published demo password",
        ),
    ],
)
def test_bad_password_change_says_why_and_changes_nothing(app, client, auth, form, field, message):
    auth.login("member")
    before = _user(app, "member").password_hash
    data = {"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW, **form}
    r = client.post("/account/password", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert f'id="e-{field}"' in page and message in page
    assert _user(app, "member").password_hash == before


def test_admin_issues_a_one_time_reset_link(app, client, auth):
    auth.login("admin")
    board = _user(app, "board")
    r = client.post(f"/users/{board.id}/password", data={"how": "link"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    link = re.search(r"<code>http://localhost(/reset/[^<]+)</code>", page).group(1)
    client.post("/logout")
    other = app.test_client()
    form = other.get(link)
    assert form.status_code == 200 and form.headers["Referrer-Policy"] == "no-referrer"
    r = other.post(link, data={"new_password": NEW, "confirm_password": "typo"})
    assert r.status_code == 422
    r = other.post(link, data={"new_password": NEW, "confirm_password": NEW})
    assert r.status_code == 302 and r.location.endswith("/login")
    assert other.get(link).status_code == 404  # used up
    assert _login(other, "board", NEW).status_code == 302
    actions = _actions(app)
    assert ("admin@test.example", "user.reset_link", board.id) in actions
    assert ("board@test.example", "user.password_reset", board.id) in actions


def test_an_expired_or_replaced_reset_link_does_not_work(app, client, auth):
    auth.login("admin")
    board = _user(app, "board")

    def link():
        page = client.post(f"/users/{board.id}/password", data={"how": "link"}).get_data(
            as_text=True
        )
        return re.search(r"<code>http://localhost(/reset/[^<]+)</code>", page).group(1)

    first, second = link(), link()
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    with app.app_context():
        user = db.session.get(User, board.id)
        user.reset_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get(second).status_code == 404
    assert client.get("/reset/not-a-token").status_code == 404


def test_temporary_password_must_be_changed_at_first_login(app, client, auth):
    auth.login("admin")
    treasurer = _user(app, "treasurer")
    page = client.post(f"/users/{treasurer.id}/password", data={"how": "temporary"}).get_data(
        as_text=True
    )
    temporary = re.search(r"<code>([^<]+)</code>", page).group(1)
    assert "shown only now" in page
    client.post("/logout")
    assert _login(client, "treasurer").status_code == 401  # the old password is gone
    r = _login(client, "treasurer", temporary)
    assert r.status_code == 302 and r.location.endswith("/account")
    for path in ("/", "/contributions/", "/account/tokens"):
        r = client.get(path)
        assert r.status_code == 302 and r.location.endswith("/account")
    api = client.get("/api/v1/funds")
    assert api.status_code == 403 and "temporary password" in api.get_json()["error"]
    r = client.post(
        "/account/password",
        data={"current_password": temporary, "new_password": NEW, "confirm_password": NEW},
    )
    assert r.status_code == 302
    assert client.get("/").status_code == 200
    assert ("admin@test.example", "user.password_temporary", treasurer.id) in _actions(app)


def test_admin_changes_a_role_and_the_session_ends(app, client, auth):
    member_client = app.test_client()
    assert _login(member_client, "member").status_code == 302
    auth.login("admin")
    member = _user(app, "member")
    r = client.post(f"/users/{member.id}/role", data={"role": "board"})
    assert r.status_code == 302
    assert _user(app, "member").role == "board"
    assert member_client.get("/").status_code == 302
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "user.role")
        ).scalar_one()
        assert '"role": "member"' in event.before_json and '"role": "board"' in event.after_json
    r = client.post(f"/users/{member.id}/role", data={"role": "owner"})
    assert r.status_code == 422 and "Choose one of" in r.get_data(as_text=True)


def test_admin_cannot_change_own_role_or_temporary_password(app, client, auth):
    auth.login("admin")
    admin = _user(app, "admin")
    r = client.post(f"/users/{admin.id}/role", data={"role": "member"})
    assert r.status_code == 422
    assert _user(app, "admin").role == "admin"
    r = client.post(f"/users/{admin.id}/password", data={"how": "temporary"})
    assert r.status_code == 302
    assert not db_user_must_change(app, admin.id)


def db_user_must_change(app, uid: int) -> bool:
    with app.app_context():
        return db.session.get(User, uid).must_change_password


@pytest.mark.parametrize("role", ["treasurer", "board", "member"])
def test_only_admins_manage_accounts(app, client, auth, role):
    auth.login(role)
    name = "member" if role != "member" else "board"
    target = _user(app, name)
    for path, data in (
        (f"/users/{target.id}/role", {"role": "admin"}),
        (f"/users/{target.id}/password", {"how": "link"}),
        (f"/users/{target.id}/password", {"how": "temporary"}),
    ):
        assert client.post(path, data=data).status_code == 403
    assert _user(app, name).role == target.role


def test_demo_accounts_are_marked_on_the_users_page(app, client, auth):
    from ceroc_donations.accounts import service as users
    from ceroc_donations.demo import DEMO_USERS

    email, name, role, password = DEMO_USERS[3]
    with app.app_context():
        users.create_user(email, name, role, password, by=None)
        db.session.commit()
    auth.login("admin")
    page = client.get("/users").get_data(as_text=True)
    row = next(r for r in page.split("<tr") if email in r)
    assert 'class="tag demo"' in row
    other = next(r for r in page.split("<tr") if "member@test.example" in r)
    assert "tag demo" not in other


def test_set_password_command(app, runner):
    result = runner.invoke(args=["set-password", "board@test.example"], input=NEW + "\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["set-password", "board@test.example"], input="short\n")
    assert result.exit_code == 2 and "at least" in result.output
    result = runner.invoke(args=["set-password", "nobody@test.example"], input=NEW + "\n")
    assert result.exit_code == 2
    client = app.test_client()
    assert _login(client, "board", NEW).status_code == 302
    assert (
        "system",
        "user.password_set",
        _user(app, "board").id,
    ) in _actions(app)


def test_reset_without_a_choice_says_what_to_choose(app, client, auth):
    auth.login("admin")
    board = _user(app, "board")
    r = client.post(f"/users/{board.id}/password", data={"how": "guess"}, follow_redirects=True)
    assert "Choose a one-time link or a temporary password." in r.get_data(as_text=True)
    assert _user(app, "board").password_hash == board.password_hash
    assert not [a for a in _actions(app) if a[1].startswith("user.")]
