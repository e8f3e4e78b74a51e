"""Expense claims: the service's state machine and the pages around it."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.book import queries
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Expense, LedgerEntry
from ceroc_donations.book.receipts import store_receipt
from ceroc_donations.book.service import Conflict
from ceroc_donations.claims import service as claims
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
PDF = b"%PDF-1.4\n%fake but starts right\n"


def claim_form(**kw) -> dict:
    data = {
        "amount": "35.50",
        "currency": "USD",
        "spent_on": "2014-06-20",
        "purpose_en": "Printing petition forms",
        "purpose_km": "បោះពុម្ពញត្តិ",
        "category": "printing",
    }
    data.update(kw)
    return data


def _user(role: str) -> User:
    return db.session.execute(select(User).where(User.role == role)).scalar_one()


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _claim_events(claim_id: int) -> list[str]:
    return list(
        db.session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "claim", AuditEvent.entity_id == claim_id)
            .order_by(AuditEvent.seq)
        ).scalars()
    )


# --- the service ---------------------------------------------------------------------------


@pytest.fixture
def submitted(ctx, funds):
    """A member's claim, submitted with a PNG receipt."""
    member = _user("member")
    stored = store_receipt(PNG, "receipt.png")
    claim = claims.submit_claim(
        claims.parse_claim(claim_form()), stored, by=member, idempotency_key="k1"
    )
    db.session.commit()
    return claim


def _pay_input(claim, fund, **kw):
    data = {"fund_id": str(fund.id), "paid_on": "2014-06-25", "exchange_rate": "1"}
    data.update(kw)
    return claims.parse_payment(claim, data)


def test_full_path_makes_exactly_one_expense_and_moves_the_fund(submitted, funds):
    general, promo = funds
    board, treasurer = _user("board"), _user("treasurer")
    before = {b.fund.id: b.money_out.minor for b in queries.fund_balances()}
    assert _count(Expense) == 0 and _count(LedgerEntry) == 0

    claims.approve(submitted, "Thanks for printing these", by=board)
    db.session.commit()
    assert _count(Expense) == 0 and _count(LedgerEntry) == 0  # approved is not yet money out

    claims.mark_paid(submitted, _pay_input(submitted, promo), by=treasurer)
    db.session.commit()

    assert submitted.status == "paid" and submitted.fund_id == promo.id
    assert submitted.paid_by_id == treasurer.id and submitted.paid_at is not None
    assert submitted.decided_by_id == board.id and submitted.decided_at is not None
    expense = db.session.get(Expense, submitted.expense_id)
    assert _count(Expense) == 1 and _count(LedgerEntry) == 1
    assert expense.payee == "Member" and expense.amount_minor == 3550
    assert expense.category == "printing" and expense.paid_on == date(2014, 6, 25)
    assert expense.receipt_sha256 == submitted.receipt_sha256
    assert expense.receipt_path == submitted.receipt_path
    assert expense.description_km == "បោះពុម្ពញត្តិ"
    entry = db.session.execute(select(LedgerEntry)).scalar_one()
    assert entry.expense_id == expense.id and entry.direction == "out"
    after = {b.fund.id: b.money_out.minor for b in queries.fund_balances()}
    assert after[promo.id] - before.get(promo.id, 0) == 3550
    assert after.get(general.id, 0) == before.get(general.id, 0)

    # paying again is refused and changes nothing
    with pytest.raises(Conflict, match="is paid"):
        claims.mark_paid(submitted, _pay_input(submitted, promo), by=treasurer)
    db.session.rollback()
    assert _count(Expense) == 1 and _count(LedgerEntry) == 1

    assert _claim_events(submitted.id) == ["claim.submitted", "claim.approved", "claim.paid"]
    n, problems = audit.verify()
    assert n > 3 and problems == []


def test_foreign_currency_claim_is_converted_at_the_rate_given(ctx, funds):
    general, _ = funds
    member, board, treasurer = _user("member"), _user("board"), _user("treasurer")
    claim = claims.submit_claim(
        claims.parse_claim(claim_form(amount="50.00", currency="EUR")),
        store_receipt(PDF, "r.pdf"),
        by=member,
    )
    claims.approve(claim, None, by=board)
    with pytest.raises(Invalid) as exc:
        claims.parse_payment(claim, {"fund_id": str(general.id), "paid_on": "2014-07-01"})
    assert "exchange_rate" in exc.value.fields
    claims.mark_paid(claim, _pay_input(claim, general, exchange_rate="1.1"), by=treasurer)
    db.session.commit()
    expense = claim.expense
    assert expense.currency == "EUR" and expense.amount_minor == 5000
    assert expense.base_amount_minor == 5500 and Decimal(expense.exchange_rate) == Decimal("1.1")


@pytest.mark.parametrize("end", ["rejected", "withdrawn"])
def test_rejected_and_withdrawn_never_reach_the_ledger(submitted, funds, end):
    _, promo = funds
    if end == "rejected":
        claims.reject(submitted, "Not a CEROC expense", by=_user("board"))
    else:
        claims.withdraw(submitted, by=_user("member"))
    db.session.commit()
    assert submitted.status == end
    for step in (
        lambda: claims.approve(submitted, None, by=_user("admin")),
        lambda: claims.mark_paid(submitted, _pay_input(submitted, promo), by=_user("treasurer")),
    ):
        with pytest.raises(Conflict, match=f"is {end}"):
            step()
        db.session.rollback()
    assert _count(Expense) == 0 and _count(LedgerEntry) == 0
    assert db.session.get(ExpenseClaim, submitted.id).status == end
    assert audit.verify()[1] == []


def test_wrong_transitions_are_refused_and_change_nothing(submitted, funds):
    _, promo = funds
    board, treasurer, member = _user("board"), _user("treasurer"), _user("member")
    # paying before approval
    with pytest.raises(Conflict, match="only an approved claim can be paid"):
        claims.mark_paid(submitted, _pay_input(submitted, promo), by=treasurer)
    db.session.rollback()
    claims.approve(submitted, None, by=board)
    db.session.commit()
    snapshot = claims.claim_snapshot(submitted)
    events = _count(AuditEvent)
    for step, message in [
        (lambda: claims.approve(submitted, None, by=_user("admin")), "only a submitted"),
        (lambda: claims.reject(submitted, "changed my mind", by=board), "only a submitted"),
        (lambda: claims.withdraw(submitted, by=member), "only a submitted"),
    ]:
        with pytest.raises(Conflict, match=message):
            step()
        db.session.rollback()
    assert claims.claim_snapshot(db.session.get(ExpenseClaim, submitted.id)) == snapshot
    assert _count(AuditEvent) == events


def test_who_may_do_what(submitted, funds):
    _, promo = funds
    with pytest.raises(claims.NotAllowed, match="Only the board"):
        claims.approve(submitted, None, by=_user("member"))
    with pytest.raises(claims.NotAllowed, match="Only the board"):
        claims.reject(submitted, "no", by=_user("treasurer"))
    with pytest.raises(claims.NotAllowed, match="Only the person who filed"):
        claims.withdraw(submitted, by=_user("board"))
    claims.approve(submitted, None, by=_user("board"))
    with pytest.raises(claims.NotAllowed, match="Only the treasurer"):
        claims.mark_paid(submitted, _pay_input(submitted, promo), by=_user("board"))
    db.session.rollback()


def test_board_member_cannot_decide_own_claim(ctx, funds):
    board = _user("board")
    claim = claims.submit_claim(
        claims.parse_claim(claim_form()), store_receipt(PNG, "r.png"), by=board
    )
    db.session.commit()
    for step in (
        lambda: claims.approve(claim, None, by=board),
        lambda: claims.reject(claim, "mine", by=board),
    ):
        with pytest.raises(claims.NotAllowed, match="conflict of interest"):
            step()
    db.session.rollback()
    assert db.session.get(ExpenseClaim, claim.id).status == "submitted"
    claims.approve(claim, None, by=_user("admin"))  # someone else may
    assert claim.status == "approved"


def test_rejection_needs_a_reason(submitted):
    with pytest.raises(Invalid):
        claims.parse_decision_note({"note": "  "}, required=True)
    with pytest.raises(Invalid):
        claims.reject(submitted, " ", by=_user("board"))
    assert claims.parse_decision_note({"note": ""}, required=False) is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("amount", "-5", "greater than 0"),
        ("amount", "5.001", "at most 2 decimal places"),
        ("amount", "", "Enter an amount"),
        ("currency", "ZZZ", "Unknown currency"),
        ("spent_on", (date.today() + timedelta(days=60)).isoformat(), "in the future"),
        ("spent_on", "2014-02-30", "real date"),
        ("purpose_en", "", "Enter what the money was for"),
        ("purpose_en", "x" * 2001, "under 2000 characters"),
        ("category", "bribes", "Choose one of"),
    ],
)
def test_parse_claim_messages(ctx, field, value, message):
    overrides = {field: value}
    if field == "purpose_en" and not value:
        overrides["purpose_km"] = ""  # one of the two languages is enough: both empty here
    with pytest.raises(Invalid) as exc:
        claims.parse_claim(claim_form(**overrides))
    assert message in exc.value.fields[field]


# --- the pages -----------------------------------------------------------------------------


class Ref:
    def __init__(self, id):
        self.id = id


@pytest.fixture
def world(app):
    """Two funds; no app context stays pushed during requests (see test_views_book)."""
    from ceroc_donations.book import service as book

    with app.app_context():
        treasurer = _user("treasurer")
        general = book.create_fund("general", "General", by=treasurer)
        promo = book.create_fund("promotion", "Promotion", by=treasurer)
        db.session.commit()
        return Ref(general.id), Ref(promo.id)


def in_app(app, fn):
    with app.app_context():
        db.session.expire_on_commit = False
        result = fn()
        db.session.expunge_all()
        return result


def submit(client, receipt=(PNG, "receipt.png"), **kw):
    data = claim_form(**kw)
    if receipt is not None:
        data["receipt"] = (io.BytesIO(receipt[0]), receipt[1])
    return client.post("/claims/new", data=data, content_type="multipart/form-data")


CLAIM_URLS = [
    ("get", "/claims/"),
    ("get", "/claims/new"),
    ("post", "/claims/new"),
    ("get", "/claims/1"),
    ("get", "/claims/1/receipt"),
    ("post", "/claims/1/withdraw"),
    ("get", "/claims/review"),
    ("post", "/claims/1/approve"),
    ("post", "/claims/1/reject"),
    ("get", "/claims/pay"),
    ("post", "/claims/1/pay"),
]


def test_anonymous_is_sent_to_login_for_every_claims_url(app, client, auth, world):
    auth.login("member")
    assert submit(client).status_code == 302
    auth.logout()
    for method, url in CLAIM_URLS:
        r = getattr(client, method)(url)
        assert r.status_code == 302 and "/login" in r.location, (method, url)
    assert in_app(app, lambda: _count(ExpenseClaim)) == 1


def test_full_path_through_the_pages(app, client, auth, world):
    general, promo = world
    auth.login("member")
    page = client.get("/claims/new").get_data(as_text=True)
    assert 'accept="image/*,application/pdf"' in page and 'capture="environment"' in page
    assert f'value="{date.today().isoformat()}"' in page and 'name="idempotency_key"' in page
    r = submit(client, idempotency_key="once")
    assert r.status_code == 302
    cid = in_app(app, lambda: db.session.execute(select(ExpenseClaim.id)).scalar_one())
    # the same form sent twice files one claim
    r = submit(client, idempotency_key="once")
    assert r.status_code == 302 and r.location.endswith(f"/claims/{cid}")
    assert in_app(app, lambda: _count(ExpenseClaim)) == 1
    page = client.get("/claims/").get_data(as_text=True)
    assert "CL-" in page and "waiting for the board" in page
    with client.get(f"/claims/{cid}/receipt") as got:
        assert got.status_code == 200 and got.data == PNG
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    # a member has no queue and may not decide
    assert client.get("/claims/review").status_code == 403
    assert client.post(f"/claims/{cid}/approve").status_code == 403
    auth.logout()

    auth.login("board")
    page = client.get("/claims/review").get_data(as_text=True)
    assert "Printing petition forms" in page and f"/claims/{cid}/approve" in page
    assert client.get("/claims/pay").status_code == 403
    r = client.post(f"/claims/{cid}/approve", data={"note": "ok", "back": "review"})
    assert r.status_code == 302 and r.location.endswith("/claims/review")
    r = client.post(f"/claims/{cid}/pay", data={"fund_id": str(promo.id)})
    assert r.status_code == 403  # board cannot pay
    auth.logout()

    auth.login("treasurer")
    page = client.get("/claims/pay").get_data(as_text=True)
    assert "CL-" in page and f"/claims/{cid}/pay" in page
    r = client.post(f"/claims/{cid}/pay", data={"fund_id": "", "paid_on": "2014-06-25"})
    assert r.status_code == 422 and "Choose a fund" in r.get_data(as_text=True)
    assert in_app(app, lambda: _count(Expense)) == 0
    r = client.post(
        f"/claims/{cid}/pay",
        data={"fund_id": str(promo.id), "paid_on": "2014-06-25", "back": "pay"},
    )
    assert r.status_code == 302
    assert in_app(app, lambda: (_count(Expense), _count(LedgerEntry))) == (1, 1)
    # a second click is a clear refusal, not a second expense
    r = client.post(f"/claims/{cid}/pay", data={"fund_id": str(promo.id), "paid_on": "2014-06-25"})
    assert r.status_code == 409 and "only an approved claim can be paid" in r.get_data(as_text=True)
    assert in_app(app, lambda: _count(Expense)) == 1
    auth.logout()

    auth.login("member")
    page = client.get(f"/claims/{cid}").get_data(as_text=True)
    assert "paid by Treasurer" in page and "approved by Board" in page and "E-2014-0001" in page
    claim = in_app(app, lambda: db.session.get(ExpenseClaim, cid))
    assert claim.status == "paid" and claim.fund_id == promo.id
    assert in_app(app, lambda: audit.verify()[1]) == []


def test_board_member_own_claim_is_refused_with_a_reason(app, client, auth, world):
    auth.login("board")
    assert submit(client).status_code == 302
    page = client.get("/claims/1").get_data(as_text=True)
    assert "conflict of interest" in page and "/claims/1/approve" not in page
    r = client.post("/claims/1/approve", data={})
    assert r.status_code == 403 and "conflict of interest" in r.get_data(as_text=True)
    assert in_app(app, lambda: db.session.get(ExpenseClaim, 1).status) == "submitted"


def test_reject_with_reason_and_the_claimant_sees_it(app, client, auth, world):
    auth.login("member")
    submit(client)
    auth.logout()
    auth.login("board")
    r = client.post("/claims/1/reject", data={"note": ""})
    assert r.status_code == 422 and "Enter why the claim is rejected" in r.get_data(as_text=True)
    assert in_app(app, lambda: db.session.get(ExpenseClaim, 1).status) == "submitted"
    r = client.post("/claims/1/reject", data={"note": "<i>Personal</i> ផ្ទាល់ខ្លួន"})
    assert r.status_code == 302
    r = client.post("/claims/1/approve", data={})
    assert r.status_code == 409 and "is rejected" in r.get_data(as_text=True)
    auth.logout()
    auth.login("member")
    page = client.get("/claims/").get_data(as_text=True)
    assert "rejected" in page and "&lt;i&gt;Personal&lt;/i&gt; ផ្ទាល់ខ្លួន" in page
    assert "<i>Personal" not in page
    assert in_app(app, lambda: (_count(Expense), _count(LedgerEntry))) == (0, 0)


def test_withdraw_only_own_and_only_while_submitted(app, client, auth, world):
    auth.login("member")
    submit(client)
    auth.logout()
    auth.login("treasurer")
    r = client.post("/claims/1/withdraw")
    assert r.status_code == 403
    auth.logout()
    auth.login("member")
    assert client.post("/claims/1/withdraw").status_code == 302
    r = client.post("/claims/1/withdraw")
    assert r.status_code == 409 and "is withdrawn" in r.get_data(as_text=True)
    assert "withdrawn by Member" in client.get("/claims/1").get_data(as_text=True)
    assert in_app(app, lambda: _claim_events(1)) == ["claim.submitted", "claim.withdrawn"]


@pytest.mark.parametrize(
    "claimant, viewer, status",
    [
        ("member", "member", 200),  # the claimant
        ("board", "member", 403),  # another member
        ("member", "board", 200),
        ("member", "treasurer", 200),
        ("member", "admin", 200),
        ("board", "board", 200),
    ],
)
def test_a_receipt_is_served_only_to_the_claimant_board_and_treasurer(
    app, client, auth, world, claimant, viewer, status
):
    auth.login(claimant)
    submit(client)
    auth.logout()
    auth.login(viewer)
    if viewer != claimant and viewer == "member":
        assert "CL-" not in client.get("/claims/").get_data(as_text=True)
    assert client.get("/claims/1").status_code == status
    with client.get("/claims/1/receipt") as got:
        assert got.status_code == status
        if status == 200:
            assert got.mimetype == "image/png" and got.data == PNG
        else:
            assert got.data != PNG
    assert client.get("/claims/99/receipt").status_code == 404


@pytest.mark.parametrize(
    "overrides, receipt, field, message",
    [
        ({"amount": "-5"}, (PNG, "r.png"), "amount", "Amount must be greater than 0"),
        ({"amount": "5.001"}, (PNG, "r.png"), "amount", "at most 2 decimal places"),
        ({"currency": "ZZZ"}, (PNG, "r.png"), "currency", "Unknown currency"),
        ({"spent_on": "2099-01-01"}, (PNG, "r.png"), "spent_on", "in the future"),
        ({}, (b"GIF89a not accepted", "r.gif"), "receipt", "Upload a PDF, JPEG or PNG"),
        ({}, (b"<html><script>alert(1)</script>", "r.png"), "receipt", "Upload a PDF, JPEG"),
        ({}, (PDF, "r.jpg"), "receipt", "does not match its name"),
        ({}, None, "receipt", "Add a photo or scan of the receipt"),
    ],
)
def test_bad_input_shows_error_next_to_field_keeps_form_stores_nothing(
    app, client, auth, world, tmp_path, overrides, receipt, field, message
):
    auth.login("member")
    r = submit(client, receipt=receipt, purpose_en="<b>Flyers</b> ខិត្តប័ណ្ណ", **overrides)
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in page and f'id="e-{field}"' in page
    assert "&lt;b&gt;Flyers&lt;/b&gt; ខិត្តប័ណ្ណ" in page and "<b>Flyers" not in page
    assert in_app(app, lambda: (_count(ExpenseClaim), _count(AuditEvent))) == (0, 2)
    receipts_dir = tmp_path / "receipts"
    assert not receipts_dir.exists() or not any(receipts_dir.iterdir())


def test_html_and_khmer_in_purpose_kept_and_escaped(app, client, auth, world):
    auth.login("member")
    r = submit(
        client,
        receipt=(JPEG, "photo.jpg"),
        purpose_en="<script>alert('x')</script> posters",
        purpose_km="ផ្ទាំងរូបភាព <b>ធំ</b>",
    )
    assert r.status_code == 302
    page = client.get(r.location).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "ផ្ទាំងរូបភាព &lt;b&gt;ធំ&lt;/b&gt;" in page
    claim = in_app(app, lambda: db.session.get(ExpenseClaim, 1))
    assert claim.purpose_en == "<script>alert('x')</script> posters"
    assert claim.receipt_mime == "image/jpeg" and claim.receipt_path != "photo.jpg"


def test_every_claims_page_renders_for_every_role(app, client, auth, world):
    auth.login("member")
    submit(client)
    auth.logout()
    for role in ("admin", "treasurer", "board", "member"):
        auth.login(role)
        for url in ["/claims/", "/claims/new", "/claims/1", "/"]:
            r = client.get(url)
            assert r.status_code == 200, (role, url)
            if url == "/":
                assert 'href="/claims/"' in r.get_data(as_text=True)
        auth.logout()


def test_claim_forms_carry_csrf_tokens(csrf_app, world):
    from tests.conftest import PASSWORD

    client = csrf_app.test_client()
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/login", data={"email": "member@test.example", "password": PASSWORD, "csrf_token": token}
    )
    page = client.get("/claims/new").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    data = claim_form()
    data["receipt"] = (io.BytesIO(PNG), "r.png")
    r = client.post("/claims/new", data=data, content_type="multipart/form-data")
    assert r.status_code == 400
    with csrf_app.app_context():
        assert _count(ExpenseClaim) == 0
