"""A real browser (Debian's Chromium, driven by Selenium) against the app on a local port.

Fixtures for the journeys: ``screenshot(driver, name)`` keeps a picture of the page (into
docs/screenshots/ with ``CEROC_SCREENSHOTS=1``, as ``make screenshots`` does), and
``axe(driver)`` checks the page: axe-core finds no serious or critical accessibility problem,
nothing is loaded from outside the app, and its JavaScript and CSS stay within budget.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from ceroc_donations import create_app
from ceroc_donations.extensions import db

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e")
    app = create_app(
        {
            "SECRET_KEY": "e2e",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}/e2e.sqlite",
            "RECEIPTS_DIR": str(path / "r"),
            "ARCHIVE_DIR": str(path / "l"),
            "JOBS_IMMEDIATE": True,
        }
    )
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("Chromium and chromedriver are needed: run scripts/setup.sh --test")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1200,1000")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(3)
    yield driver
    driver.quit()


ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
#: axe-core's browser build, from the npm package (scripts/setup.sh --test installs it here).
AXE_JS = Path(os.environ.get("CEROC_AXE_JS", ROOT / ".cache/axe/node_modules/axe-core/axe.min.js"))
#: JavaScript and CSS of one page together, in bytes (decoded, so compression does not count).
ASSET_BUDGET = 150 * 1024
#: Screenshots kept in the repository are cut to this width at most and stored as 8-bit PNGs.
SCREENSHOT_MAX_WIDTH = 1200
FULL_PAGE_MAX_HEIGHT = 2400


def save_png(png: bytes, path: Path) -> None:
    """Store a screenshot small: at most SCREENSHOT_MAX_WIDTH wide, 256 colours, optimised."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > SCREENSHOT_MAX_WIDTH:
        height = round(image.height * SCREENSHOT_MAX_WIDTH / image.width)
        image = image.resize((SCREENSHOT_MAX_WIDTH, height), Image.LANCZOS)
    image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)


@pytest.fixture
def screenshot(tmp_path):
    """``screenshot(driver, name)``: the window as docs/screenshots/<name>.png when
    ``CEROC_SCREENSHOTS=1`` (``make screenshots``), else into the test's temporary folder."""
    folder = SCREENSHOTS if os.environ.get("CEROC_SCREENSHOTS") == "1" else tmp_path
    taken = []

    def take(driver, name: str, *, full_page: bool = False, show=None) -> Path:
        """The window; with *full_page*, the whole page down to FULL_PAGE_MAX_HEIGHT; with
        *show* (an element), the window scrolled to have it in the middle."""
        path = folder / f"{name}.png"
        if show is not None:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", show)
        else:
            driver.execute_script("window.scrollTo(0, 0)")
        if full_page:
            width, height = driver.execute_script(
                "const e = document.documentElement; return [e.clientWidth, e.scrollHeight]"
            )
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": min(height, FULL_PAGE_MAX_HEIGHT),
                        "scale": 1,
                    },
                },
            )
            png = base64.b64decode(shot["data"])
        else:
            png = driver.get_screenshot_as_png()
        save_png(png, path)
        taken.append(path)
        return path

    take.taken = taken
    return take


# Every resource the page loaded (its URL and what asked for it), and the size of the scripts
# and styles written into the page itself.
_RESOURCES = """
const entries = performance.getEntriesByType("resource").map((e) => ({
  url: e.name, initiator: e.initiatorType}));
const inline = [...document.querySelectorAll("script:not([src]), style")]
  .reduce((n, el) => n + new Blob([el.textContent]).size, 0);
return {origin: location.origin, entries, inline};
"""
# The decoded size of each URL, read again through the page (the timing entries say 0 for a
# file revalidated with a 304).
_SIZES = """
const [urls, done] = arguments;
Promise.all(urls.map((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => b.byteLength)))
  .then(done, (e) => done(String(e)));
"""


def asset_kind(url: str, initiator: str) -> str | None:
    """'script' or 'style' for the JavaScript and CSS of a page, None for anything else."""
    path = urlsplit(url).path
    if path.endswith(".js") or initiator == "script":
        return "script"
    if path.endswith(".css"):
        return "style"
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_page_weight(driver) -> dict:
    """Nothing loaded from another origin; JavaScript + CSS within :data:`ASSET_BUDGET`."""
    page = driver.execute_script(_RESOURCES)
    outside = [
        e["url"]
        for e in page["entries"]
        if urlsplit(e["url"]).scheme not in ("data", "blob") and _origin(e["url"]) != page["origin"]
    ]
    assert not outside, f"{driver.current_url} loads from outside the app: {outside}"
    urls = sorted({e["url"] for e in page["entries"] if asset_kind(e["url"], e["initiator"])})
    sizes = driver.execute_async_script(_SIZES, urls) if urls else []
    assert isinstance(sizes, list), f"reading the page's assets failed: {sizes}"
    assets = dict(zip(urls, sizes, strict=True))
    total = sum(assets.values()) + page["inline"]
    assert total <= ASSET_BUDGET, (
        f"{driver.current_url}: JavaScript and CSS weigh {total} bytes, over {ASSET_BUDGET}: "
        f"{assets}, inline {page['inline']}"
    )
    return {"assets": assets, "inline": page["inline"], "total": total}


_AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]})
  .then((r) => done(JSON.stringify(r.violations)))
  .catch((e) => done(JSON.stringify({error: String(e)})));
"""
SERIOUS = ("serious", "critical")


def axe_report(url: str, violations: list[dict]) -> str:
    """The violations as lines a person can act on: rule, impact, what to do, where."""
    lines = [f"axe-core: {len(violations)} serious or critical problems on {url}"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:5]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    at {' '.join(map(str, node['target']))}: {summary[:300]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        message = f"axe-core is not installed at {AXE_JS} (run scripts/setup.sh --test)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source):
    """``axe(driver)`` checks the page shown: no serious or critical axe-core violation,
    nothing loaded from outside the app, JavaScript + CSS within budget. Returns the pages
    checked so far."""
    checked = []

    def check(driver) -> list[str]:
        url = driver.current_url
        check_page_weight(driver)  # before axe.min.js is added to the page
        driver.execute_script(axe_source)
        driver.set_script_timeout(30)
        result = json.loads(driver.execute_async_script(_AXE_RUN))
        assert not isinstance(result, dict), f"axe-core failed on {url}: {result}"
        serious = [v for v in result if v.get("impact") in SERIOUS]
        assert not serious, axe_report(url, serious)
        checked.append(url)
        return checked

    return check
