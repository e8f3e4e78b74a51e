from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.accounts.setting import Setting
from ceroc_donations.extensions import db
from tests.conftest import contribution_form

MARKER = "Zq7MarkerXx"


def tbody(html: str) -> str:
    """The ledger list's rows only."""
    start = html.index('<table class="ledger">')
    return html[start : html.index("</table>", start)]


class Ref:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.fixture
def book(app):
    """Funds, donors (one anonymous, with MARKER in every personal field), gifts and an
    expense; no app context stays pushed during requests."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense
    from ceroc_donations.security import new_api_token

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        general = svc.create_fund("general", "General", name_km="ទូទៅ", by=user)
        promo = svc.create_fund("promotion", "Promotion", by=user)
        named = svc.create_donor(
            parse_donor(
                {
                    "name_en": "CNRP Minnesota",
                    "name_km": "គណបក្សសង្គ្រោះជាតិ",
                    "country": "US",
                    "city": "Saint Paul",
                }
            ),
            by=user,
        )
        secret = svc.create_donor(
            parse_donor(
                {
                    "name_en": f"Sok {MARKER}",
                    "kind": "person",
                    "public_display": "anonymous",
                    "email": f"{MARKER.lower()}@example.org",
                    "city": "Lowell",
                    "country": "US",
                    "postal_address": f"1 {MARKER} Street",
                }
            ),
            by=user,
        )
        svc.record_contribution(
            parse_contribution(contribution_form(named.id, general.id)), by=user
        )
        svc.record_contribution(
            parse_contribution(
                contribution_form(
                    secret.id,
                    general.id,
                    amount="250000",
                    currency="KHR",
                    exchange_rate="0.00025",
                    received_on="2014-07-01",
                    occasion=f"Gift {MARKER}",
                )
            ),
            by=user,
        )
        svc.record_expense(
            parse_expense(
                {
                    "paid_on": "2014-06-20",
                    "payee": f"Reimbursed {MARKER}",
                    "amount": "120",
                    "currency": "USD",
                    "category": "printing",
                    "fund_id": str(promo.id),
                    "description_en": f"Flyers ខិត្តប័ណ្ណ {MARKER}",
                }
            ),
            by=user,
        )
        tokens = {}
        for role in ("member", "board"):
            who = db.session.execute(select(User).where(User.role == role)).scalar_one()
            tokens[role] = new_api_token(who, "test")
        db.session.commit()
        return Ref(
            general=general.id, promo=promo.id, named=named.id, secret=secret.id, tokens=tokens
        )


def test_ledger_needs_login(client, book):
    for url in ["/ledger/", "/ledger/charts", "/ledger/export.csv", "/ledger/export.xlsx"]:
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.location


@pytest.mark.parametrize("role", ["admin", "treasurer", "board", "member"])
def test_ledger_page_any_role(client, auth, book, role):
    auth.login(role)
    r = client.get("/ledger/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Ledger" in html and "<svg" in html and "chart-table" in html
    assert "$342.50" in html  # balance: 400 + 62.50 - 120
    assert "Print" not in html or "printing" in html.lower()
    assert ("CNRP Minnesota" in html) and ("Sok " + MARKER in html) == (role != "member")
    assert 'aria-current="page"' in html and 'href="/ledger/"' in html


def test_ledger_filters_void_and_errors(client, auth, book, app):
    auth.login("treasurer")
    html = tbody(client.get(f"/ledger/?fund={book.promo}").get_data(as_text=True))
    assert "−$120.00" in html and "CNRP" not in html
    assert tbody(client.get("/ledger/?direction=in").get_data(as_text=True)).count("<tr class") == 2
    r = client.get("/ledger/?from=2014-99-01&direction=x")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Enter a real date" in html and "Choose money in or money out." in html
    # Void a gift: hidden, then shown struck through with its reason when asked.
    client.post("/contributions/1/void", data={"reason": "Entered twice"})
    assert "Entered twice" not in client.get("/ledger/").get_data(as_text=True)
    html = client.get("/ledger/?void=1").get_data(as_text=True)
    assert 'class="void"' in html and "Entered twice" in html
    html = client.get("/ledger/?from=2030-01-01").get_data(as_text=True)
    assert "Nothing matches these filters" in html
    assert client.get("/ledger/charts").status_code == 200


def test_empty_ledger(client, auth):
    auth.login("member")
    html = client.get("/ledger/").get_data(as_text=True)
    assert "Nothing recorded yet" in html


def test_keyset_pagination_links(client, auth, book, app):
    app.config["PAGE_SIZE"] = 2
    auth.login("treasurer")
    html = client.get("/ledger/").get_data(as_text=True)
    assert "Older" in html
    import re

    nxt = re.search(r'href="(/ledger/\?after=[^"]+)"', html).group(1).replace("&amp;", "&")
    html2 = client.get(nxt).get_data(as_text=True)
    assert "CNRP Minnesota" in html2 and "Older" not in html2 and "Newest" in html2


def test_csv_export(client, auth, book):
    auth.login("treasurer")
    r = client.get(f"/ledger/export.csv?fund={book.general}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    raw = r.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Date", "Reference", "Who or what"]
    assert [row[0] for row in rows[1:]] == ["2014-07-01", "2014-06-15"]
    assert rows[1][6:11] == ["62.50", "462.50", "USD", "250000.00", "KHR"]
    r = client.get("/ledger/export.csv?category=printing")
    text = r.get_data().decode("utf-8-sig")
    assert "ខិត្តប័ណ្ណ" not in text  # descriptions are not exported, labels are
    assert "-120.00" in text and "'" not in text.splitlines()[1][:1]


def test_xlsx_export_keeps_khmer(client, auth, book, app):
    with app.app_context():
        from ceroc_donations.book.models import Fund

        db.session.get(Fund, book.general).name_en = "General ទូទៅ"
        db.session.commit()
    auth.login("board")
    r = client.get("/ledger/export.xlsx")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.get_data()), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "Date" and len(values) == 4
    assert any(v == "General ទូទៅ" for row in values for v in row)
    assert values[1][7] == pytest.approx(342.5)


def test_api_roles_and_shape(client, book):
    assert client.get("/api/v1/ledger").status_code == 401
    assert client.get("/api/v1/balances").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.get("/api/v1/ledger", headers=bad).status_code == 401
    member = {"Authorization": f"Bearer {book.tokens['member']}"}
    r = client.get("/api/v1/ledger?limit=2", headers=member)
    assert r.status_code == 200
    body = r.json
    assert len(body["items"]) == 2 and body["next_cursor"]
    first = body["items"][0]
    assert first["label"] == "Anonymous donor" and MARKER not in str(body)
    assert first["balance"] == {"amount": "342.50", "minor": 34250, "currency": "USD"}
    assert first["original"] == {"amount": "250000.00", "minor": 25000000, "currency": "KHR"}
    rest = client.get(f"/api/v1/ledger?limit=2&cursor={body['next_cursor']}", headers=member).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["balance"]["minor"] == 40000
    r = client.get("/api/v1/ledger?limit=500&from=nope", headers=member)
    assert r.status_code == 422 and set(r.json["fields"]) == {"from", "limit"}
    assert client.get("/api/v1/ledger?cursor=%%%", headers=member).status_code == 422
    board = {"Authorization": f"Bearer {book.tokens['board']}"}
    named = client.get(f"/api/v1/ledger?donor={book.secret}", headers=board).json
    assert [i["label"] for i in named["items"]] == [f"Sok {MARKER}"]
    balances = client.get("/api/v1/balances", headers=member).json
    assert balances["total"]["balance"]["amount"] == "342.50"
    assert {f["code"]: f["balance"]["minor"] for f in balances["funds"]} == {
        "general": 46250,
        "promotion": -12000,
    }


def test_openapi_paths(client):
    doc = client.get("/api/v1/openapi.json").json
    params = doc["paths"]["/api/v1/ledger"]["get"]["parameters"]
    names = [doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"] for p in params]
    assert {"cursor", "limit", "fund", "from", "to", "category", "direction"} <= set(names)
    assert "/api/v1/balances" in doc["paths"]


def test_transparency_off_by_default(client, auth, book):
    assert client.get("/transparency").status_code == 404
    assert client.get("/transparency/export.csv").status_code == 404
    auth.login("admin")
    assert client.get("/transparency").status_code == 404


def test_settings_admin_only_and_audited(client, auth, book, app):
    auth.login("treasurer")
    assert client.get("/settings").status_code == 403
    auth.logout()
    auth.login("admin")
    assert client.get("/settings").status_code == 200
    r = client.post("/settings", data={"transparency_public": "1"})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(Setting, "transparency_public").value == "1"
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "setting.changed")
        ).scalar_one()
        assert event.actor == "admin@test.example" and '"1"' in event.after_json


def test_transparency_on_shows_no_personal_data(client, auth, book, app):
    auth.login("admin")
    client.post("/settings", data={"transparency_public": "1"})
    auth.logout()
    r = client.get("/transparency")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "$342.50" in html and "<svg" in html and "Anonymous donor" in html
    assert "CNRP Minnesota" in html and "Printing" in html
    assert MARKER not in html and MARKER.lower() not in html
    assert "/receipt" not in html and "C-2014" not in html and "@" not in html
    for url in [
        "/transparency?void=1",
        "/transparency?donor=2",
        f"/transparency?fund={book.general}&from=2014-01-01",
    ]:
        assert MARKER not in client.get(url).get_data(as_text=True)
    csv_text = client.get("/transparency/export.csv").get_data().decode("utf-8-sig")
    assert MARKER not in csv_text and MARKER.lower() not in csv_text
    assert "Anonymous donor" in csv_text and "C-2014" not in csv_text
    assert client.get("/transparency?from=bad").status_code == 422


def test_charts_page_has_titles_and_axis_labels_in_khmer(app, client, auth):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor

    # Its own app context, closed before the requests: Flask-Babel keeps the locale it
    # chose in the app context, which a shared one would carry over to the Khmer request.
    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = book.create_fund("general", "General", by=treasurer)
        donor = book.create_donor(parse_donor({"name_en": "A donor"}), by=treasurer)
        for year in range(2014, 2026):  # twelve years of gifts, one each June
            form = contribution_form(donor.id, fund.id, received_on=f"{year}-06-15")
            book.record_contribution(parse_contribution(form), by=treasurer)
        db.session.commit()
    auth.login("member")
    client.post("/language", data={"lang": "km", "next": "/ledger/charts"})
    html = client.get("/ledger/charts").get_data(as_text=True)
    assert ">ប្រាក់ចូល និងប្រាក់ចេញ</text>" in html  # the flow chart's title, shown
    assert "ចំនួនទឹកប្រាក់ (USD)" in html and ">ឆ្នាំ</text>" in html  # axes; years
    assert html.count(">2014</text>") == 1 and ">2016</text>" in html  # years, thinned to fit
    assert ">ចំណាយតាមប្រភេទ</text>" in html  # an empty chart still shows its title
