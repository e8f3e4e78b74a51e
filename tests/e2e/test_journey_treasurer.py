"""The treasurer's day on a phone: a joint gift in CAD with a receipt photo, rejected once
(no exchange rate) with the receipt staying attached, then saved with it."""

from __future__ import annotations

import io
import os
import random
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from ceroc_donations import create_app
from ceroc_donations.extensions import db

PHONE = (390, 844)


@pytest.fixture
def shot(screenshot, axe):
    """``shot(browser, tmp_path, name, show=None)``: check the page with axe-core, then
    photograph it (docs/screenshots/treasurer-<name>.png under ``make screenshots``); *show*
    (an element) is scrolled to the middle of the window first."""

    def take(browser, _tmp_path, name: str, show=None) -> str:
        axe(browser)
        return str(screenshot(browser, f"treasurer-{name}", show=show))

    return take


def photo(path, size=(900, 1200), noise=False) -> str:
    """A JPEG like a phone's photo of a receipt (noise makes it large, as real photos are)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (250, 248, 240))
    if noise:
        rng = random.Random(7)
        image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.text((60, 80 + 60 * i), f"Cheque no. 1045 — line {i}", fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return str(path)


def login(browser, base, email="janet@ceroc.example", password="treasurer-demo-2014"):
    browser.get(base + "/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    WebDriverWait(browser, 5).until(EC.title_contains("Dashboard"))


def pick_donor(browser, text):
    search = browser.find_element(By.ID, "donor-search")
    search.click()
    search.send_keys(text)
    WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#donor-results li"))
    search.send_keys(Keys.ENTER)


def fits(browser) -> int:
    return browser.execute_script("return document.documentElement.scrollWidth")


def test_treasurer_records_a_joint_gift_in_cad_on_a_phone(browser, live_server, tmp_path, shot):
    browser.set_window_size(*PHONE)
    login(browser, live_server)

    # "Record a gift" is the first thing on the dashboard, above the fold.
    first = browser.find_element(By.CSS_SELECTOR, "main h1 + *")
    button = browser.find_element(By.LINK_TEXT, "Record a gift")
    assert button in first.find_elements(By.TAG_NAME, "a")
    assert button.rect["y"] + button.rect["height"] < PHONE[1] - 100
    assert fits(browser) <= PHONE[0]
    shot(browser, tmp_path, "1-dashboard")
    button.click()
    WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.ID, "donor-search")))
    assert fits(browser) <= PHONE[0]

    # Two donors with their shares, CAD, a receipt photo, and no exchange rate.
    pick_donor(browser, "CNRP")
    pick_donor(browser, "IKA")
    shares = browser.find_elements(By.CSS_SELECTOR, 'input[name="shares"]')
    assert len(shares) == 2
    shares[0].send_keys("300.00")
    shares[1].send_keys("200.00")
    browser.find_element(By.ID, "f-amount").send_keys("500.00")
    currency = browser.find_element(By.ID, "f-currency")
    currency.clear()
    currency.send_keys("CAD")
    receipt = photo(tmp_path / "cheque-1045.jpg")
    browser.find_element(By.ID, "f-receipt").send_keys(receipt)
    assert fits(browser) <= PHONE[0]
    shot(browser, tmp_path, "2-gift-form", show=browser.find_element(By.ID, "f-currency"))
    browser.find_element(By.CSS_SELECTOR, "#contribution-form button.primary").click()

    # Rejected: the message by the rate, everything typed kept, the receipt still attached.
    error = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.ID, "e-exchange_rate"))
    )
    assert "how many USD one CAD was worth" in error.text
    attached = browser.find_element(By.ID, "receipt-attached")
    assert "cheque-1045.jpg attached" in attached.text
    assert browser.find_element(By.ID, "f-amount").get_attribute("value") == "500.00"
    assert browser.find_element(By.ID, "f-currency").get_attribute("value") == "CAD"
    kept = [s.get_attribute("value") for s in browser.find_elements(By.NAME, "shares")]
    assert kept == ["300.00", "200.00"]
    assert len(browser.find_elements(By.CSS_SELECTOR, 'input[name="donor_ids"]:checked')) == 2
    assert fits(browser) <= PHONE[0]
    shot(browser, tmp_path, "3-rejected-rate-missing", show=error)
    shot(browser, tmp_path, "3-rejected-receipt-kept", show=attached)

    # Corrected: the rate typed, no file chosen again.
    rate = browser.find_element(By.ID, "f-exchange_rate")
    rate.send_keys("0.73")
    browser.find_element(By.CSS_SELECTOR, "#contribution-form button.primary").click()
    notice = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.success"))
    )
    assert "recorded" in notice.text
    shot(browser, tmp_path, "4-recorded")

    # "Thank now" leads to the gift: the receipt is there, and its viewer fits the phone.
    notice.find_element(By.LINK_TEXT, "Thank now").click()
    WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.CSS_SELECTOR, "dl.facts")))
    facts = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "CNRP Minnesota" in facts and "IKA" in facts and "cheque-1045.jpg" in facts
    reference = browser.find_element(By.TAG_NAME, "h1").text.split(" ")[0]
    browser.find_element(By.LINK_TEXT, "cheque-1045.jpg").click()
    image = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".receipt-view img"))
    )
    WebDriverWait(browser, 5).until(
        lambda b: b.execute_script("return arguments[0].complete", image)
    )
    assert image.get_property("naturalWidth") == 900
    assert image.rect["width"] <= PHONE[0] and image.rect["height"] <= PHONE[1]
    assert fits(browser) <= PHONE[0]
    shot(browser, tmp_path, "5-receipt-viewer")
    browser.find_element(By.PARTIAL_LINK_TEXT, f"Back to {reference}").click()
    WebDriverWait(browser, 5).until(EC.title_contains(reference))


# --- a server with a small receipt limit, to try the size checks --------------------------

LIMIT = 150_000


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e-tight")
    app = create_app(
        {
            "SECRET_KEY": "e2e",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}/e2e.sqlite",
            "RECEIPTS_DIR": str(path / "r"),
            "ARCHIVE_DIR": str(path / "l"),
            "IMPORTS_DIR": str(path / "i"),
            "JOBS_IMMEDIATE": True,
            "MAX_RECEIPT_BYTES": LIMIT,
            "MAX_CONTENT_LENGTH": 2 * LIMIT,
        }
    )
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", path
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


def expense_fields(browser, payee):
    browser.find_element(By.ID, "f-payee").send_keys(payee)
    browser.find_element(By.ID, "f-amount").send_keys("42.00")
    browser.find_element(By.ID, "f-category").send_keys("print")
    browser.find_element(By.ID, "f-description_km").send_keys("ខិត្តប័ណ្ណ")


def test_a_large_phone_photo_is_made_smaller_before_it_is_sent(
    browser, tight_server, tmp_path, shot
):
    base, storage = tight_server
    browser.set_window_size(*PHONE)
    login(browser, base)
    browser.get(base + "/expenses/new")
    expense_fields(browser, "Angkor Print")
    big = photo(tmp_path / "receipt-photo.jpg", size=(1600, 1200), noise=True)
    assert os.path.getsize(big) > 2 * LIMIT
    browser.find_element(By.ID, "f-receipt").send_keys(big)
    status = browser.find_element(By.ID, "receipt-status")
    WebDriverWait(browser, 10).until(lambda b: "made smaller" in status.text)
    assert "error" not in (status.get_attribute("class") or "")
    shot(browser, tmp_path, "6-photo-made-smaller", show=status)
    browser.find_element(By.CSS_SELECTOR, "form[data-keep-form] button.primary").click()
    WebDriverWait(browser, 5).until(EC.title_contains("E-"))
    stored = [p for p in (storage / "r").iterdir() if p.is_file()]
    assert len(stored) == 1 and stored[0].suffix == ".jpg"
    assert 0 < stored[0].stat().st_size <= LIMIT


def test_a_file_too_large_to_shrink_is_stopped_with_a_message(browser, tight_server, tmp_path):
    base, _storage = tight_server
    login(browser, base)
    browser.get(base + "/expenses/new")
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * (2 * LIMIT))
    browser.find_element(By.ID, "f-receipt").send_keys(str(pdf))
    status = browser.find_element(By.ID, "receipt-status")
    WebDriverWait(browser, 5).until(lambda b: "the most the app takes" in status.text)
    url = browser.current_url
    expense_fields(browser, "Scan shop")
    browser.find_element(By.CSS_SELECTOR, "form[data-keep-form] button.primary").click()
    assert browser.current_url == url  # not sent


def test_a_413_leads_back_to_the_form_with_what_was_typed(browser, tight_server, tmp_path, shot):
    base, _storage = tight_server
    login(browser, base)
    browser.get(base + "/expenses/new")
    expense_fields(browser, "Big Scan Ltd")
    # A browser that could not check the size (the check is an aid, the server decides).
    browser.execute_script(
        "document.getElementById('f-receipt').removeAttribute('data-max-bytes');"
        "document.getElementById('f-receipt').replaceWith("
        "document.getElementById('f-receipt').cloneNode(true));"
    )
    pdf = tmp_path / "huge.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * (3 * LIMIT))
    browser.find_element(By.ID, "f-receipt").send_keys(str(pdf))
    browser.find_element(By.CSS_SELECTOR, "form[data-keep-form] button.primary").click()
    back = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "[data-restore-link]"))
    )
    assert "File too large" not in browser.page_source
    shot(browser, tmp_path, "7-upload-too-large")
    back.click()
    error = WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.ID, "e-receipt")))
    assert "too large to send" in error.text
    WebDriverWait(browser, 5).until(
        lambda b: b.find_element(By.ID, "f-payee").get_attribute("value") == "Big Scan Ltd"
    )
    assert browser.find_element(By.ID, "f-description_km").get_attribute("value") == "ខិត្តប័ណ្ណ"
    assert browser.find_element(By.ID, "f-amount").get_attribute("value") == "42.00"


def test_an_expired_form_comes_back_with_what_was_typed(browser, live_server, tmp_path, shot):
    """Any form page: the typed fields come back (here put back by form-keep.js) with a
    fresh token, and the second submit saves."""
    browser.set_window_size(*PHONE)
    login(browser, live_server)
    browser.get(live_server + "/donors/new")
    browser.find_element(By.ID, "f-name_en").send_keys("Keo Bopha")
    browser.find_element(By.ID, "f-name_km").send_keys("កែវ បុប្ផា")
    browser.find_element(By.ID, "f-note").send_keys("ជួបនៅពិធីបុណ្យ")
    # As after a long pause with a lost session: the page's token is no longer valid.
    browser.execute_script(
        "document.querySelector('form.form input[name=csrf_token]').value = 'expired'"
    )
    browser.find_element(By.CSS_SELECTOR, "form.form button.primary").click()
    notice = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.error"))
    )
    assert "Your form had expired" in notice.text
    name = browser.find_element(By.ID, "f-name_en")
    WebDriverWait(browser, 5).until(lambda b: name.get_attribute("value") == "Keo Bopha")
    assert browser.find_element(By.ID, "f-name_km").get_attribute("value") == "កែវ បុប្ផា"
    assert browser.find_element(By.ID, "f-note").get_attribute("value") == "ជួបនៅពិធីបុណ្យ"
    shot(browser, tmp_path, "8-form-expired-kept", show=notice)
    browser.find_element(By.CSS_SELECTOR, "form.form button.primary").click()
    WebDriverWait(browser, 5).until(EC.title_contains("Keo Bopha"))
