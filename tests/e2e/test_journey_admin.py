"""The admin's day: open the users page, add an account, reset its password with a one-time
link, and the person sets a new password through the link and logs in with it. Every page is
checked by ``axe`` and photographed."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.test_browser import login

EMAIL = "sokha@ceroc.example"
FIRST = "first-password-2026"
NEW = "a-new-password-of-her-own"


def row_of(browser, email: str):
    return browser.find_element(By.XPATH, f"//table//tr[td[normalize-space()='{email}']]")


def log_out(browser) -> None:
    browser.find_element(By.CSS_SELECTOR, 'form[action="/logout"] button').click()
    WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.ID, "email")))


def test_admin_resets_a_password(browser, live_server, screenshot, axe):
    login(browser, live_server, "admin@ceroc.example", "admin-demo-2014")
    axe(browser)
    browser.find_element(By.CSS_SELECTOR, 'header nav a[href="/users"]').click()
    WebDriverWait(browser, 5).until(EC.title_contains("Users"))
    axe(browser)

    # A new account for a volunteer.
    browser.find_element(By.ID, "f-name").send_keys("Sokha Chan")
    browser.find_element(By.ID, "f-email").send_keys(EMAIL)
    Select(browser.find_element(By.ID, "f-role")).select_by_value("member")
    browser.find_element(By.ID, "f-password").send_keys(FIRST + Keys.ENTER)
    notice = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.success"))
    )
    assert EMAIL in notice.text
    axe(browser)

    # She forgot it: a one-time link, shown once, to give her privately.
    row_of(browser, EMAIL).find_element(By.CSS_SELECTOR, 'button[value="link"]').click()
    issued = WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.success code"))
    )
    link = issued.text
    assert link.startswith(live_server + "/reset/")
    axe(browser)
    screenshot(browser, "admin-users-reset-link")
    log_out(browser)

    # She opens the link, chooses a password; the old one no longer works, the new one does.
    browser.get(link)
    WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.ID, "f-new_password")))
    assert EMAIL in browser.find_element(By.TAG_NAME, "main").text
    axe(browser)
    screenshot(browser, "reset-password")
    browser.find_element(By.ID, "f-new_password").send_keys(NEW)
    browser.find_element(By.ID, "f-confirm_password").send_keys(NEW + Keys.ENTER)
    WebDriverWait(browser, 5).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.success"))
    )
    assert browser.current_url.endswith("/login")
    axe(browser)
    browser.find_element(By.ID, "email").send_keys(EMAIL)
    browser.find_element(By.ID, "password").send_keys(FIRST + Keys.ENTER)
    WebDriverWait(browser, 5).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".error")))
    axe(browser)
    login(browser, live_server, EMAIL, NEW)
    assert "Sokha Chan" in browser.find_element(By.CSS_SELECTOR, "header .session").text
    axe(browser)

    # The link worked once.
    browser.get(link)
    assert "Link not valid" in browser.title
