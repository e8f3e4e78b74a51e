"""A rejected form keeps everything: the typed fields, the receipt file (kept on the server
under a token), after an expired CSRF token and after an upload the server refused (413)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time

import pytest
from sqlalchemy import func, select

from ceroc_donations.accounts.models import User
from ceroc_donations.book import receipts
from ceroc_donations.book.models import Contribution, Donor, Expense, Fund
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db
from tests.conftest import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 2000
JPEG = b"\xff\xd8\xff\xe0" + b"\1" * 3000
TOKEN = re.compile(r'name="receipt_token" value="([A-Za-z0-9_-]{32})"')


@pytest.fixture
def world(app):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor

    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = book.create_fund("general", "General", by=treasurer)
        one = book.create_donor(parse_donor({"name_en": "Sok Dara"}), by=treasurer)
        two = book.create_donor(parse_donor({"name_en": "Chan Sophea"}), by=treasurer)
        db.session.commit()
        return {"fund": fund.id, "donors": (one.id, two.id)}


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def expense_form(world, **kw):
    data = {
        "payee": "Print shop",
        "amount": "64.00",
        "currency": "USD",
        "paid_on": "2014-06-20",
        "category": "printing",
        "fund_id": str(world["fund"]),
        "description_en": "Flyers",
    }
    data.update(kw)
    return data


def gift_form(world, **kw):
    data = {
        "donor_ids": [str(i) for i in world["donors"]],
        "shares": ["300.00", "200.00"],
        "amount": "500.00",
        "currency": "CAD",
        "exchange_rate": "0.73",
        "received_on": "2014-06-15",
        "fund_id": str(world["fund"]),
        "method": "cheque",
        "public_display": "default",
    }
    data.update(kw)
    return data


def post(client, url, data, receipt=None):
    data = dict(data)
    if receipt is not None:
        data["receipt"] = (io.BytesIO(receipt[0]), receipt[1])
    return client.post(url, data=data, content_type="multipart/form-data")


def stored_receipts(app) -> list[str]:
    folder = app.config["RECEIPTS_DIR"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def pending_files(app) -> list[str]:
    with app.test_request_context():
        return sorted(p.name for p in receipts.pending_dir().iterdir())


def test_rejected_expense_keeps_its_receipt_and_uses_it_on_the_corrected_submit(
    app, client, auth, world
):
    auth.login("treasurer")
    r = post(client, "/expenses/new", expense_form(world, amount="-5"), (PNG, "receipt.png"))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="e-amount"' in page
    token = TOKEN.search(page).group(1)
    assert "receipt.png attached, 2 KB" in page and "Remove" in page
    assert 'value="Print shop"' in page  # the typed fields are kept too
    assert stored_receipts(app) == []  # nothing stored yet
    assert pending_files(app) == sorted([f"{token}.bin", f"{token}.json"])

    # Corrected, with no file chosen again: the kept one is attached.
    r = post(client, "/expenses/new", expense_form(world, receipt_token=token))
    assert r.status_code == 302
    with app.app_context():
        e = db.session.execute(select(Expense)).scalar_one()
        assert e.receipt_name == "receipt.png" and e.receipt_mime == "image/png"
        assert e.receipt_sha256 == hashlib.sha256(PNG).hexdigest()
        assert (receipts.receipts_dir() / e.receipt_path).read_bytes() == PNG
    assert pending_files(app) == []  # used once, then gone


def test_a_rejected_form_asks_again_for_a_file_that_failed_its_check(app, client, auth, world):
    auth.login("treasurer")
    r = post(client, "/expenses/new", expense_form(world), (b"GIF89a", "r.gif"))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "Upload a PDF, JPEG or PNG" in page
    assert TOKEN.search(page) is None and pending_files(app) == []


def test_a_new_file_replaces_the_kept_one_and_remove_drops_it(app, client, auth, world):
    auth.login("treasurer")
    page = post(client, "/expenses/new", expense_form(world, amount=""), (PNG, "a.png"))
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    r = post(client, "/expenses/new", expense_form(world, receipt_token=token), (JPEG, "b.jpg"))
    assert r.status_code == 302
    with app.app_context():
        assert db.session.execute(select(Expense.receipt_name)).scalar_one() == "b.jpg"

    page = post(client, "/expenses/new", expense_form(world, amount=""), (PNG, "c.png"))
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    data = expense_form(world, receipt_token=token, receipt_remove="1", payee="Venue")
    assert post(client, "/expenses/new", data).status_code == 302
    with app.app_context():
        e = db.session.execute(select(Expense).where(Expense.payee == "Venue")).scalar_one()
        assert e.receipt_path is None
    assert pending_files(app) == []


def test_a_token_is_bound_to_its_uploader_and_checked(app, client, auth, world):
    auth.login("treasurer")
    page = post(client, "/expenses/new", expense_form(world, amount=""), (PNG, "mine.png"))
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    auth.logout()
    auth.login("admin")  # may write the book too, but did not upload this file
    for bad in (token, "../../secret_key", "../" * 12 + "etc/passwd", "x" * 32 + "/..", "a"):
        r = post(client, "/expenses/new", expense_form(world, receipt_token=bad))
        page = r.get_data(as_text=True)
        assert r.status_code == 422, bad
        assert "The receipt attached earlier has expired" in page and 'id="e-receipt"' in page
    assert count(app, Expense) == 0 and stored_receipts(app) == []
    assert len(pending_files(app)) == 2  # the treasurer's own upload is untouched


def test_a_kept_upload_expires_after_an_hour(app, client, auth, world):
    auth.login("treasurer")
    page = post(client, "/expenses/new", expense_form(world, amount=""), (PNG, "old.png"))
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    with app.test_request_context():
        folder = receipts.pending_dir()
        an_hour_ago = time.time() - receipts.PENDING_SECONDS - 5
        for name in os.listdir(folder):
            os.utime(folder / name, (an_hour_ago, an_hour_ago))
    r = post(client, "/expenses/new", expense_form(world, receipt_token=token))
    assert r.status_code == 422 and "has expired" in r.get_data(as_text=True)
    # The next upload kept anywhere sweeps the expired ones away.
    post(client, "/expenses/new", expense_form(world, amount=""), (PNG, "new.png"))
    assert not any(name.startswith(token) for name in pending_files(app))
    assert len(pending_files(app)) == 2


def test_rejected_claim_keeps_its_receipt(app, client, auth, world):
    auth.login("member")
    data = {
        "amount": "-1",
        "currency": "USD",
        "spent_on": "2014-06-20",
        "purpose_km": "បោះពុម្ពញត្តិ",
        "category": "printing",
    }
    r = post(client, "/claims/new", data, (JPEG, "photo.jpg"))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "photo.jpg attached" in page
    # The file field is no longer required: the kept receipt counts.
    assert re.search(r'<input id="f-receipt"[^>]*\srequired[\s>]', page) is None
    token = TOKEN.search(page).group(1)
    r = post(client, "/claims/new", {**data, "amount": "12.50", "receipt_token": token})
    assert r.status_code == 302
    with app.app_context():
        claim = db.session.execute(select(ExpenseClaim)).scalar_one()
        assert claim.receipt_name == "photo.jpg" and claim.purpose_km == "បោះពុម្ពញត្តិ"
        assert claim.receipt_sha256 == hashlib.sha256(JPEG).hexdigest()


def test_joint_gift_in_cad_keeps_its_receipt_when_the_rate_is_missing(app, client, auth, world):
    auth.login("treasurer")
    r = post(client, "/contributions/new", gift_form(world, exchange_rate=""), (JPEG, "chq.jpg"))
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="e-exchange_rate"' in page
    assert "chq.jpg attached" in page and 'value="300.00"' in page and 'value="200.00"' in page
    token = TOKEN.search(page).group(1)
    r = post(client, "/contributions/new", gift_form(world, receipt_token=token))
    assert r.status_code == 302
    with app.app_context():
        c = db.session.execute(select(Contribution)).scalar_one()
        assert c.receipt_name == "chq.jpg" and c.currency == "CAD"
        assert [s.share_minor for s in c.shares] == [30000, 20000]
        cid = c.id
    page = client.get(f"/contributions/{cid}").get_data(as_text=True)
    assert f"/contributions/{cid}/receipt/view" in page
    view = client.get(f"/contributions/{cid}/receipt/view").get_data(as_text=True)
    assert f'<img src="/contributions/{cid}/receipt"' in view
    assert f'href="/contributions/{cid}"' in view  # the way back
    with client.get(f"/contributions/{cid}/receipt") as file:
        assert file.data == JPEG
    # A cheque names the donor: members, who see gifts as the public does, do not get it.
    auth.logout()
    auth.login("member")
    with client.get(f"/contributions/{cid}/receipt") as file:
        assert file.status_code == 403
    assert client.get(f"/contributions/{cid}/receipt/view").status_code == 403
    assert "receipt/view" not in client.get(f"/contributions/{cid}").get_data(as_text=True)


def test_receipt_viewer_fits_the_image_and_leads_back(app, client, auth, world):
    auth.login("treasurer")
    assert post(client, "/expenses/new", expense_form(world), (PNG, "r.png")).status_code == 302
    page = client.get("/expenses/1").get_data(as_text=True)
    assert 'href="/expenses/1/receipt/view"' in page
    view = client.get("/expenses/1/receipt/view")
    html = view.get_data(as_text=True)
    assert view.status_code == 200 and 'class="receipt-view"' in html
    assert 'href="/expenses/1"' in html and "Back to E-" in html
    with client.get("/static/css/app.css") as sheet:
        css = sheet.get_data(as_text=True)
    rule = css[css.index(".receipt-view img") :].split("}")[0]
    assert "max-width: 100%" in rule and "height: auto" in rule and "100vh" in rule
    assert post(client, "/expenses/new", expense_form(world, payee="No file")).status_code == 302
    assert client.get("/expenses/2/receipt/view").status_code == 404


def test_the_form_says_the_limits_to_the_page_script(app, client, auth, world):
    auth.login("treasurer")
    for url in ("/contributions/new", "/expenses/new"):
        page = client.get(url).get_data(as_text=True)
        assert f'data-max-bytes="{app.config["MAX_RECEIPT_BYTES"]}"' in page, url
        assert f'data-max-request="{app.config["MAX_CONTENT_LENGTH"]}"' in page, url
        assert "js/form-keep.js" in page and "data-keep-form" in page


# --- 413: an upload larger than the server takes ------------------------------------------


def test_an_upload_over_the_limit_leads_back_to_the_form_with_a_message(app, client, auth, world):
    auth.login("treasurer")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    r = post(
        client, "/expenses/new", expense_form(world), (b"\xff\xd8\xff" + b"\0" * 9000, "x.jpg")
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 413
    assert "File too large" not in page and "The file is too large" in page
    assert 'href="/expenses/new?too_large=1"' in page and "Back button" in page
    assert count(app, Expense) == 0
    page = client.get("/expenses/new?too_large=1").get_data(as_text=True)
    assert 'id="e-receipt"' in page and "too large to send" in page
    for url in ("/contributions/new", "/claims/new"):
        page = client.get(url + "?too_large=1").get_data(as_text=True)
        assert 'id="e-receipt"' in page and "too large to send" in page, url


def test_an_api_upload_over_the_limit_stays_json(app, client, auth, world):
    auth.login("treasurer")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    r = client.post(
        "/expenses/new",
        data=expense_form(world, note="x" * 9000),
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 413 and r.is_json


# --- CSRF: the form expired ----------------------------------------------------------------


def _login_with_token(client):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"email": "treasurer@test.example", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 302


def test_an_expired_form_is_shown_again_with_what_was_typed(csrf_app, world):
    client = csrf_app.test_client()
    _login_with_token(client)
    data = expense_form(world, payee="ហាងបោះពុម្ព", description_km="ខិត្តប័ណ្ណ", csrf_token="old")
    r = client.post("/expenses/new", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "Your form had expired" in page
    assert 'value="ហាងបោះពុម្ព"' in page and ">ខិត្តប័ណ្ណ</textarea>" in page
    fresh = re.search(
        r'<form method="post" class="form"[^>]*>\s*<input type="hidden" '
        r'name="csrf_token" value="([^"]+)"',
        page,
    ).group(1)
    assert fresh != "old"
    assert count(csrf_app, Expense) == 0
    # Submitted again with the fresh token, it is saved.
    r = client.post("/expenses/new", data={**data, "csrf_token": fresh})
    assert r.status_code == 302 and count(csrf_app, Expense) == 1


def test_an_expired_login_keeps_the_email_but_never_the_password(csrf_app):
    client = csrf_app.test_client()
    r = client.post("/login", data={"email": "someone@test.example", "password": "hunter2-secret"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "Your form had expired" in page
    assert "hunter2-secret" not in page
    assert "someone@test.example" in page


def test_any_form_page_gets_its_typed_fields_back(csrf_app):
    """A form whose view does not read them itself gets them through form-keep.js."""
    client = csrf_app.test_client()
    _login_with_token(client)
    r = client.post("/donors/new", data={"name_en": "Keo Bopha", "note": "ក្រុមគ្រួសារ"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "Your form had expired" in page
    island = re.search(r"<div hidden id=\"restored-form\" data-values='([^']*)'>", page)
    assert island and "Keo Bopha" in island.group(1) and "csrf_token" not in island.group(1)
    with csrf_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Donor)).scalar_one() == 0


def test_an_expired_action_without_a_page_says_so(csrf_app, world):
    client = csrf_app.test_client()
    _login_with_token(client)
    r = client.post("/funds/1/archive", data={})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    with csrf_app.app_context():
        assert db.session.get(Fund, world["fund"]).archived is False


def test_an_expired_form_the_person_may_not_open_is_a_plain_refusal(csrf_app, world):
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/login",
        data={"email": "member@test.example", "password": PASSWORD, "csrf_token": token},
    )
    r = client.post("/expenses/new", data=expense_form(world, payee="Not mine"))
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "security token" in page
    assert "Not mine" not in page and "Your form had expired" not in page
    assert "Your form had expired" not in client.get("/").get_data(as_text=True)
    assert count(csrf_app, Expense) == 0


@pytest.mark.parametrize("layout", ["storage_dir", "receipts_dir_apart"])
def test_kept_uploads_live_beside_the_receipts_in_either_layout(tmp_path, layout):
    """``CEROC_STORAGE_DIR`` alone, or ``RECEIPTS_DIR`` set apart: a kept upload is on the
    receipts' disk, outside the served folder, and becomes a stored receipt."""
    from ceroc_donations import create_app

    config = {"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    if layout == "storage_dir":
        config["STORAGE_DIR"] = str(tmp_path / "storage")
        expected = tmp_path / "storage" / "pending-uploads"
        stored_in = tmp_path / "storage" / "receipts"
    else:
        config["STORAGE_DIR"] = str(tmp_path / "storage")
        config["RECEIPTS_DIR"] = str(tmp_path / "other-disk" / "receipts")
        expected = tmp_path / "other-disk" / "pending-uploads"
        stored_in = tmp_path / "other-disk" / "receipts"
    app = create_app(config)
    with app.test_request_context():
        kept = receipts.keep_pending(receipts.Upload(PNG, "r.png"), user_id=7)
        assert receipts.pending_dir() == expected
        assert sorted(p.name for p in expected.iterdir()) == [
            f"{kept.token}.bin",
            f"{kept.token}.json",
        ]
        assert receipts.load_pending(kept.token, 7) == kept
        assert receipts.load_pending(kept.token, 8) is None
        stored = receipts.store_receipt(PNG, kept.name)
        assert (stored_in / stored.path).read_bytes() == PNG
        receipts.discard_pending(kept.token)
        assert list(expected.iterdir()) == []
        with pytest.raises(FileNotFoundError):
            receipts.receipt_file("../pending-uploads/" + kept.token + ".bin")
