"""The board's day in a real browser: the letter queue, select all, a batch, the print PDF."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BOARD = ("sophoan@ceroc.example", "board-demo-2014")

#: The first bytes of a same-origin download, read by the page's own fetch (its cookie).
FETCH_HEAD = """
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
fetch(url).then(async (r) => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  done({status: r.status, type: r.headers.get("Content-Type"), size: bytes.length,
        head: String.fromCharCode(...bytes.slice(0, 5))});
}).catch((e) => done({error: String(e)}));
"""


@pytest.fixture
def shot(screenshot, axe):
    """``shot(browser, tmp_path, name)``: check the page with axe-core, then photograph it
    (docs/screenshots/<name> under ``make screenshots``)."""

    def take(browser, _tmp_path, name: str) -> None:
        axe(browser)
        screenshot(browser, name.removesuffix(".png"))

    return take


def _login(browser, live_server, email: str, password: str) -> None:
    browser.get(live_server + "/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.title_contains("Dashboard"))


def _tab_count(browser, tab: str) -> int:
    link = browser.find_element(By.CSS_SELECTOR, f'.queue-tabs a[href*="tab={tab}"] .count')
    return int(link.text)


def test_board_selects_all_runs_a_batch_and_downloads_the_print_pdf(
    browser, live_server, tmp_path, shot
):
    _login(browser, live_server, *BOARD)
    browser.get(live_server + "/letters/")
    assert "Letters to send" in browser.title
    waiting = _tab_count(browser, "to_generate")
    generated_before = _tab_count(browser, "generated")
    assert waiting > 0
    ticks = browser.find_elements(By.CSS_SELECTOR, "input.tick")
    assert ticks and not any(t.is_selected() for t in ticks)
    shot(browser, tmp_path, "board-queue.png")

    # Select all with the keyboard: the header's tick box, then every matching gift.
    select_page = browser.find_element(By.ID, "select-page")
    assert select_page.is_displayed()  # shown by the script; hidden without it
    select_page.send_keys(Keys.SPACE)
    assert all(t.is_selected() for t in browser.find_elements(By.CSS_SELECTOR, "input.tick"))
    banners = browser.find_elements(By.ID, "select-all-matching")
    if banners:  # more gifts than one page holds: Gmail's "Select all N matching"
        banners[0].send_keys(Keys.ENTER)
    assert browser.find_element(By.ID, "select-all").is_selected()
    count = browser.find_element(By.ID, "selection-count").text
    assert count == f"All {waiting} matching gifts selected", count
    shot(browser, tmp_path, "board-queue-selected.png")

    # One click starts the batch; its page shows the bar until every letter is made.
    browser.find_element(By.ID, "start-batch").click()
    WebDriverWait(browser, 10).until(EC.title_contains("Batch"))
    WebDriverWait(browser, 180).until(
        lambda b: b.find_element(By.ID, "batch-downloads").is_displayed()
    )
    bar = browser.find_element(By.ID, "batch-bar")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(waiting)
    width = browser.execute_script("return arguments[0].getBoundingClientRect().width", bar)
    column = browser.execute_script(
        "return document.querySelector('main').getBoundingClientRect().width"
    )
    assert width >= column * 0.9  # a full-width bar
    assert f"All {waiting} letters are ready." in browser.find_element(By.ID, "batch-text").text
    shot(browser, tmp_path, "board-batch-done.png")

    # The print PDF, fetched with the page's own session.
    href = browser.find_element(By.CSS_SELECTOR, "#batch-downloads a.primary").get_attribute("href")
    got = browser.execute_async_script(FETCH_HEAD, href)
    assert got.get("status") == 200, got
    assert got["head"] == "%PDF-" and got["type"] == "application/pdf" and got["size"] > 1000

    # Back on the queue: the gifts moved to "Generated, not sent".
    browser.find_element(By.LINK_TEXT, "Back to the queue").click()
    WebDriverWait(browser, 10).until(EC.title_contains("Letters to send"))
    assert _tab_count(browser, "to_generate") == 0
    assert _tab_count(browser, "generated") == generated_before + waiting
    browser.find_element(By.CSS_SELECTOR, '.queue-tabs a[href*="tab=generated"]').click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "download-selected"))
    shot(browser, tmp_path, "board-generated.png")

    # On a 390 px phone the queue fits the screen.
    browser.set_window_size(390, 900)
    browser.get(live_server + "/letters/?tab=generated")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= 390, scroll
    shot(browser, tmp_path, "board-queue-phone.png")


def test_text_editor_shows_the_preview_beside_the_texts(browser, live_server, tmp_path, shot):
    _login(browser, live_server, *BOARD)
    browser.set_window_size(1400, 1000)
    browser.get(live_server + "/letters/texts")
    form = browser.find_element(By.ID, "texts-form")
    frame = browser.find_element(By.ID, "letter-preview")
    # Two columns: the preview's left edge is right of the texts, and level with their top.
    assert frame.rect["x"] >= form.rect["x"] + form.rect["width"] - 1
    assert abs(frame.rect["y"] - form.rect["y"]) < 200
    field = browser.find_element(By.ID, "f-closing_en")
    field.clear()
    field.send_keys("With warm thanks from Minneapolis")

    def preview_says(text):
        def check(b):
            b.switch_to.frame(b.find_element(By.ID, "letter-preview"))
            try:
                return text in b.find_element(By.TAG_NAME, "body").text
            finally:
                b.switch_to.default_content()

        return check

    WebDriverWait(browser, 10).until(preview_says("With warm thanks from Minneapolis"))
    shot(browser, tmp_path, "board-texts.png")
    # A narrow window: the preview goes below the texts.
    browser.set_window_size(390, 900)
    frame = browser.find_element(By.ID, "letter-preview")
    form = browser.find_element(By.ID, "texts-form")
    assert frame.rect["y"] >= form.rect["y"] + form.rect["height"] - 1


# The preview requests, held until the test lets each through, labelled by the closing text
# they carry: answers can then arrive out of order without any timing.
HOLD_PREVIEWS = """
window.__held = [];
const realFetch = window.fetch.bind(window);
window.fetch = (url, options) => new Promise((resolve, reject) => window.__held.push({
  closing: options.body.get("closing_en"),
  go: () => realFetch(url, options).then(resolve, reject),
}));
"""
RELEASE_PREVIEW = """
const [closing, done] = arguments;
const held = window.__held.filter((h) => h.closing === closing);
window.__held = window.__held.filter((h) => h.closing !== closing);
Promise.all(held.map((h) => h.go())).then(() => setTimeout(() => done(held.length), 100));
"""


def _frame_text(browser) -> str:
    browser.switch_to.frame(browser.find_element(By.ID, "letter-preview"))
    try:
        return browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()


def test_a_late_preview_never_replaces_a_newer_one(browser, live_server):
    _login(browser, live_server, *BOARD)
    browser.get(live_server + "/letters/texts")
    WebDriverWait(browser, 10).until(lambda b: "Seng Sophoan" in _frame_text(b))
    browser.execute_script(HOLD_PREVIEWS)
    held = "return window.__held.map((h) => h.closing)"
    field = browser.find_element(By.ID, "f-closing_en")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Older closing")
    WebDriverWait(browser, 10).until(lambda b: b.execute_script(held) == ["Older closing"])
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Newer closing")
    WebDriverWait(browser, 10).until(lambda b: len(b.execute_script(held)) == 2)
    assert browser.execute_async_script(RELEASE_PREVIEW, "Newer closing") == 1
    WebDriverWait(browser, 10).until(lambda b: "Newer closing" in _frame_text(b))
    assert browser.execute_async_script(RELEASE_PREVIEW, "Older closing") == 1  # late
    text = _frame_text(browser)
    assert "Newer closing" in text and "Older closing" not in text
