"""The page checks the journeys rely on do fail: an image without a text alternative fails
``axe``, a page carrying more than the JavaScript and CSS budget fails the weight check."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ASSET_BUDGET, check_page_weight
from tests.e2e.test_browser import login

PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def test_axe_reports_a_violation_readably(browser, live_server, axe):
    login(browser, live_server, "member@ceroc.example", "member-demo-2014")
    axe(browser)
    browser.execute_script(
        "const img = document.createElement('img'); img.src = arguments[0];"
        "document.querySelector('main').append(img);",
        PIXEL,
    )
    with pytest.raises(AssertionError, match=r"image-alt \(critical\).*\n\s+at img: Fix any"):
        axe(browser)


def test_weight_check_counts_scripts_and_styles(browser, live_server):
    login(browser, live_server, "member@ceroc.example", "member-demo-2014")
    weight = check_page_weight(browser)
    assert any(url.endswith("/static/css/app.css") for url in weight["assets"])
    assert 0 < weight["total"] <= ASSET_BUDGET
    browser.execute_script(
        "const s = document.createElement('style');"
        "s.textContent = '/*' + 'x'.repeat(arguments[0]) + '*/'; document.head.append(s);",
        ASSET_BUDGET,
    )
    with pytest.raises(AssertionError, match="over 153600"):
        check_page_weight(browser)
