"""A real browser (Debian's Chromium, driven by Selenium) against the app on a local port."""

from __future__ import annotations

import shutil
import threading

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
