"""A member's day, in Khmer: the dashboard, the ledger filtered to money out, the charts, and
the CSV of what the filter shows. Every page is checked by ``axe`` and photographed."""

from __future__ import annotations

import csv
import io

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.test_browser import login

PHONE = (390, 844)
DESKTOP = (1200, 1000)

# The page fetches the CSV link itself, with its own session, as the download would.
FETCH = """
const [href, done] = arguments;
fetch(href).then(async (r) => done({
  status: r.status,
  type: r.headers.get("Content-Type"),
  disposition: r.headers.get("Content-Disposition"),
  text: await r.text(),
})).catch((e) => done({error: String(e)}));
"""


def page_lang(browser) -> str:
    return browser.execute_script("return document.documentElement.lang")


def test_member_reads_the_ledger_in_khmer(browser, live_server, screenshot, axe):
    login(browser, live_server, "member@ceroc.example", "member-demo-2014")
    assert page_lang(browser) == "en"
    axe(browser)

    # One button switches the whole interface to Khmer, and it stays so from page to page.
    browser.find_element(By.CSS_SELECTOR, 'button[name="lang"][value="km"]').click()
    WebDriverWait(browser, 5).until(lambda b: page_lang(b) == "km")
    assert "ទំព័រដើម" in browser.title  # "Dashboard"
    axe(browser)
    browser.find_element(By.CSS_SELECTOR, 'header nav a[href="/ledger/"]').click()
    WebDriverWait(browser, 5).until(EC.title_contains("បញ្ជីគណនី"))  # "Ledger"
    assert page_lang(browser) == "km"
    rows_before = len(browser.find_elements(By.CSS_SELECTOR, "table.ledger tbody tr"))
    assert rows_before > 1

    # Filter to the money spent: the list keeps only expenses.
    Select(browser.find_element(By.NAME, "direction")).select_by_value("out")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 5).until(EC.url_contains("direction=out"))
    assert page_lang(browser) == "km"
    rows = browser.find_elements(By.CSS_SELECTOR, "table.ledger tbody tr")
    assert 0 < len(rows) < rows_before
    for row in rows:
        amount = row.find_elements(By.CSS_SELECTOR, "td.num")[0]
        assert "out" in amount.get_attribute("class").split()
        assert amount.text.startswith("−")
    axe(browser)
    browser.set_window_size(*PHONE)
    screenshot(browser, "member-ledger-km-phone", full_page=True)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the ledger is {width}px wide on a {PHONE[0]}px phone"
    # Each entry's amount and balance are on screen, not behind a sideways scroll.
    for cell in rows[0].find_elements(By.CSS_SELECTOR, "td.num"):
        left, right = cell.rect["x"], cell.rect["x"] + cell.rect["width"]
        assert 0 <= left and right <= PHONE[0], (cell.text, cell.rect)
    balance = rows[0].find_elements(By.CSS_SELECTOR, "td.num")[1]
    label = browser.execute_script(
        "return getComputedStyle(arguments[0], '::before').content", balance
    )
    assert "សមតុល្យក្រោយ" in label  # "Balance after": the header row is hidden on a phone
    axe(browser)
    browser.set_window_size(*DESKTOP)

    # The CSV export carries the same filter: the same entries, with a header row.
    link = browser.find_element(By.CSS_SELECTOR, 'a[download][href*="export.csv"]')
    assert "direction=out" in link.get_attribute("href")
    answer = browser.execute_async_script(FETCH, link.get_attribute("href"))
    assert answer.get("status") == 200, answer
    assert answer["type"].startswith("text/csv")
    assert "attachment" in answer["disposition"] and ".csv" in answer["disposition"]
    table = list(csv.reader(io.StringIO(answer["text"].lstrip("\ufeff"))))
    header, entries = table[0], table[1:]
    assert header[0] == "កាលបរិច្ឆេទ"  # "Date": the export speaks the page's language
    assert len(entries) == len(rows)
    shown = browser.find_element(By.CSS_SELECTOR, "table.ledger tbody").text
    for entry in entries:
        reference, amount = entry[1], entry[6]
        assert reference in shown
        assert amount.startswith("-"), entry

    # The charts, each with a title, drawn with the same filter.
    browser.find_element(By.CSS_SELECTOR, 'a[href*="/ledger/charts"]').click()
    WebDriverWait(browser, 5).until(EC.url_contains("/ledger/charts"))
    assert page_lang(browser) == "km"
    figures = browser.find_elements(By.CSS_SELECTOR, "figure.chart")
    assert len(figures) >= 3
    for figure in figures:
        assert figure.find_elements(By.CSS_SELECTOR, "svg title, svg text")
        assert figure.find_elements(By.CSS_SELECTOR, "table")  # the numbers for screen readers
    assert Select(browser.find_element(By.NAME, "direction")).first_selected_option.get_attribute(
        "value"
    ) == ("out")
    axe(browser)
    screenshot(browser, "member-charts-km")

    # Back to English: the choice is kept with the account, for the next log-in too.
    browser.find_element(By.CSS_SELECTOR, 'button[name="lang"][value="en"]').click()
    WebDriverWait(browser, 5).until(lambda b: page_lang(b) == "en")
    axe(browser)
