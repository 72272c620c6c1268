"""GET /dashboard in a real browser (Debian chromium driven by Selenium) while traffic flows."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from http_helpers import request
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

import mlship

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "build" / "dashboard.png"


@pytest.fixture
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("the Debian packages 'chromium' and 'chromium-driver' are not installed (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_dashboard_shows_live_charts_during_traffic(browser, mlp, digits, tmp_path):
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    X_train, X_test = digits[0], digits[1]
    drift = mlship.DriftOptions(window=1000, min_samples=200, check_interval_s=0.5)
    stop = threading.Event()

    with mlship.deploy(model, name="digits", port=0, reference=X_train, drift=drift) as dep:
        def traffic(seed: int) -> None:
            rng = np.random.default_rng(seed)
            deadline = time.monotonic() + 120
            for _ in range(200_000):  # bounded in count and in time
                if stop.is_set() or time.monotonic() > deadline:
                    break
                dep.predict(X_test[rng.integers(0, len(X_test), 4)])

        workers = [threading.Thread(target=traffic, args=(seed,)) for seed in range(4)]
        for w in workers:
            w.start()
        try:
            browser.get(dep.dashboard_url)
            charts = ("throughput", "latency", "batch", "queue", "drift")
            points = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                points = {c: int(browser.find_element("id", c).get_attribute("data-points")) for c in charts}
                judged = "predicted classes: PSI" in browser.find_element("id", "status").text
                if all(points[c] >= 5 for c in charts[:4]) and points["drift"] == 64 and judged:
                    break
                time.sleep(0.5)
            assert all(points[c] >= 5 for c in charts[:4]), points
            assert points["drift"] == 64, points  # one bar per feature of the reference
            assert "digits" in browser.find_element("id", "title").text
            assert "serving: primary" in browser.find_element("id", "status").text
            # The digits MLP is a classifier: its predicted-class mix is shown too.
            assert "predicted classes: PSI" in browser.find_element("id", "prediction").text
            # The page made no request anywhere but this server.
            origins = browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
            )
            assert origins and set(origins) == {dep.url}
            SCREENSHOT.parent.mkdir(exist_ok=True)
            assert browser.save_screenshot(str(SCREENSHOT))
            assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=30)

        status, data, _ = request(dep.url, "GET", "/dashboard/data")
        assert status == 200 and data["model"] == "digits" and data["counters"]["succeeded"] > 0
        assert [d["feature"] for d in data["drift"]] == [str(i) for i in range(64)]
        assert data["prediction"]["judged"] and data["prediction"]["window_rows"] >= 200


def test_dashboard_needs_the_token_when_one_is_set(mlp):
    model = mlship.load(mlp, example_inputs=torch.zeros(1, 64))
    with mlship.deploy(model, port=0, token="d" * 32) as dep:
        assert request(dep.url, "GET", "/dashboard/data")[0] == 401
        # A browser without a login is sent to the login form (docs/security.md#dashboard-login).
        status, _, headers = request(dep.url, "GET", "/dashboard")
        assert status == 303 and headers["Location"] == "/dashboard/login"
        status, page, headers = request(dep.url, "GET", "/dashboard", headers={"Authorization": "Bearer " + "d" * 32})
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"<canvas" in page and b"http://" not in page and b"https://" not in page
        assert np.asarray(dep.predict(np.zeros((1, 64), np.float32))).shape == (1, 10)
