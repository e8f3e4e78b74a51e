"""The contribution form with the keyboard alone: Tab goes through the fields in reading order,
and the focused field always shows a clear outline."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_browser import login

# Where the focused element is and how its focus ring looks, with the colour behind it.
FOCUSED = """
const el = document.activeElement;
const box = el.getBoundingClientRect();
const style = getComputedStyle(el, null);
let back = el.parentElement, bg = "rgba(0, 0, 0, 0)";
while (back && (bg = getComputedStyle(back).backgroundColor) === "rgba(0, 0, 0, 0)") {
  back = back.parentElement;
}
return {
  id: el.id || el.name || el.tagName, top: box.top + scrollY, left: box.left,
  height: box.height, inForm: !!el.closest("#contribution-form"),
  visible: el.matches(":focus-visible"), outline: style.outlineStyle,
  width: parseFloat(style.outlineWidth), color: style.outlineColor,
  behind: bg === "rgba(0, 0, 0, 0)" ? "rgb(255, 255, 255)" : bg,
};
"""


def luminance(rgb: str) -> float:
    parts = [float(p) / 255 for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [p / 12.92 if p <= 0.03928 else ((p + 0.055) / 1.055) ** 2.4 for p in parts]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_tab_order_follows_the_form_and_focus_is_visible(browser, live_server):
    login(browser, live_server)
    browser.get(live_server + "/contributions/new")
    WebDriverWait(browser, 5).until(
        lambda b: b.switch_to.active_element.get_attribute("id") == "donor-search"
    )
    seen = []
    for _step in range(40):
        # To the page, not the element: a file field would take the keys as a file's path.
        ActionChains(browser).send_keys(Keys.TAB).perform()
        now = browser.execute_script(FOCUSED)
        if not now["inForm"]:
            break
        if seen and seen[-1]["id"] == now["id"]:
            continue  # the day, month and year of a date field are stops of one field
        seen.append(now)
        assert now["outline"] != "none", f"no focus ring on {now}"
        assert now["width"] >= 2, f"focus ring of {now['id']} is {now['width']}px"
        assert contrast(now["color"], now["behind"]) >= 3, f"focus ring of {now['id']}: {now}"
    ids = [s["id"] for s in seen]
    for field in ("f-amount", "f-currency", "f-exchange_rate", "f-received_on", "f-fund_id"):
        assert field in ids, f"Tab never reaches {field}: {ids}"
    # Reading order: each stop is below the previous one, or on the same line to its right.
    for before, after in zip(seen, seen[1:], strict=False):
        same_line = abs(after["top"] - before["top"]) < before["height"]
        assert after["top"] > before["top"] or (same_line and after["left"] > before["left"]), (
            f"Tab jumps back from {before['id']} to {after['id']}"
        )
    assert browser.find_element(By.ID, "contribution-form")
