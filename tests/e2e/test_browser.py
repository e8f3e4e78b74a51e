from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def login(browser, live_server, email="janet@ceroc.example", password="treasurer-demo-2014"):
    browser.get(live_server + "/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    WebDriverWait(browser, 5).until(EC.title_contains("Dashboard"))


def test_record_a_contribution_with_the_keyboard_only(browser, live_server):
    login(browser, live_server)
    browser.get(live_server + "/contributions/new")
    # Focus starts on the donor (autofocus lands once the page has loaded: wait for it).
    WebDriverWait(browser, 5).until(
        lambda b: b.switch_to.active_element.get_attribute("id") == "donor-search"
    )
    search = browser.switch_to.active_element
    search.send_keys("youth")
    WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#donor-results li"))
    search.send_keys(Keys.ENTER)  # picks the highlighted donor, moves on to the amount
    amount = browser.switch_to.active_element
    assert amount.get_attribute("id") == "f-amount"
    amount.send_keys("150" + Keys.ENTER)  # Enter submits
    notice = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.success"))
    )
    assert "recorded" in notice.text and "Undo" in notice.text
    assert browser.find_element(By.ID, "f-amount").get_attribute("value") == ""  # fresh form


def test_error_next_to_the_field_and_input_kept(browser, live_server):
    login(browser, live_server)
    browser.get(live_server + "/contributions/new")
    search = browser.find_element(By.ID, "donor-search")
    search.send_keys("CNRP")
    WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#donor-results li"))
    search.send_keys(Keys.ENTER)
    browser.find_element(By.ID, "f-amount").send_keys("-5")
    # the browser's own checks are not the safety net: submit past them
    browser.execute_script("document.getElementById('contribution-form').noValidate = true")
    browser.find_element(By.ID, "f-amount").send_keys(Keys.ENTER)
    error = WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.ID, "e-amount")))
    assert "greater than 0" in error.text
    assert browser.find_element(By.ID, "f-amount").get_attribute("value") == "-5"
    assert browser.find_elements(By.CSS_SELECTOR, 'input[name="donor_ids"][checked]')


def test_pages_fit_a_360px_phone(browser, live_server):
    # A board member: members may not open the donor pages (contact details).
    login(browser, live_server, "sophoan@ceroc.example", "board-demo-2014")
    browser.set_window_size(360, 800)
    for path in ["/", "/contributions/", "/expenses/", "/donors/", "/funds/", "/donors/1"]:
        browser.get(live_server + path)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide"


def test_khmer_font_served_by_the_app(browser, live_server):
    login(browser, live_server)
    ok = browser.execute_async_script("""
        const done = arguments[0];
        document.fonts.load('16px "CEROC Khmer"', 'ខ្មែរ').then(f => done(f.length > 0));
    """)
    assert ok


# The page's fetch of donor searches, held until the test lets each answer through, so
# answers can be made to arrive out of order without any timing.
HOLD_SEARCHES = """
window.__held = [];
const realFetch = window.fetch.bind(window);
window.fetch = (url, options) => {
  if (!String(url).includes("search.json")) return realFetch(url, options);
  return new Promise((resolve, reject) => window.__held.push({
    url: String(url),
    go: () => realFetch(url, options).then(resolve, reject),
  }));
};
"""
RELEASE = """
const [part, done] = arguments;
const held = window.__held.filter((h) => h.url.includes(part));
window.__held = window.__held.filter((h) => !h.url.includes(part));
Promise.all(held.map((h) => h.go())).then(() => setTimeout(() => done(held.length), 50));
"""


def _held(browser, part):
    return browser.execute_script(
        "return window.__held.filter((h) => h.url.includes(arguments[0])).length", part
    )


def test_donor_picker_ignores_late_answers_and_stale_results(browser, live_server):
    login(browser, live_server)
    browser.get(live_server + "/contributions/new")
    browser.execute_script(HOLD_SEARCHES)
    search = browser.find_element(By.ID, "donor-search")
    search.send_keys("youth")
    WebDriverWait(browser, 5).until(lambda b: _held(b, "q=youth"))
    search.send_keys(Keys.ENTER)  # no results for this text yet: nothing is picked or sent
    assert browser.current_url.endswith("/contributions/new")
    assert not browser.find_elements(By.CSS_SELECTOR, '#chosen-donors input[name="donor_ids"]')
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    search.send_keys("CNRP")
    WebDriverWait(browser, 5).until(lambda b: _held(b, "q=CNRP"))
    assert browser.execute_async_script(RELEASE, "q=CNRP") >= 1
    results = browser.find_element(By.ID, "donor-results")
    WebDriverWait(browser, 5).until(lambda b: "CNRP" in results.text)
    assert browser.execute_async_script(RELEASE, "q=youth") >= 1  # the older answers, late
    assert "CNRP" in results.text and "Youth" not in results.text
    search.send_keys(Keys.ENTER)
    chosen = browser.find_element(By.ID, "chosen-donors")
    assert "CNRP Minnesota" in chosen.text and "Youth" not in chosen.text


def test_contribution_form_shows_the_base_value_as_you_type(browser, live_server):
    login(browser, live_server)
    browser.get(live_server + "/contributions/new")
    rate = browser.find_element(By.ID, "f-exchange_rate")
    assert rate.get_attribute("value") == ""  # never a silent 1
    browser.find_element(By.ID, "f-amount").send_keys("500")
    currency = browser.find_element(By.ID, "f-currency")
    currency.send_keys(Keys.CONTROL, "a")
    currency.send_keys("CAD")
    rate.send_keys("0,7312")
    out = browser.find_element(By.ID, "base-value")
    WebDriverWait(browser, 5).until(lambda b: out.text == "= $365.60")
    rate.send_keys(Keys.CONTROL, "a")
    rate.send_keys("1,250")
    problem = browser.find_element(By.ID, "money-problem")
    WebDriverWait(browser, 5).until(lambda b: "Write 1250 or 1.250" in problem.text)
    assert out.text == ""
