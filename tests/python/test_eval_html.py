"""HTML reports of mlship.evaluate and mlship.compare, opened in headless Chromium (Debian's
chromium driven by Selenium): the page is self-contained and shows its plots."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

import mlship

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("the Debian packages 'chromium' and 'chromium-driver' are not installed (make system-deps)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _open(browser, path) -> list[dict]:
    """Loads the page and returns its images' alt text, natural size and source scheme."""
    browser.get(path.as_uri())
    return browser.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, "
        "complete: i.complete, scheme: i.src.split(':')[0]}))")


def _assert_self_contained(browser) -> None:
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith("data:") for name in resources), resources


def test_classification_report_shows_confusion_calibration_and_latency(chromium, digits_model, digits, tmp_path):
    _, X, _, y = digits
    report = mlship.evaluate(digits_model, X, y, slices={"first half": np.arange(len(y)) < len(y) // 2})
    path = report.save_html(tmp_path / "report.html")
    images = _open(chromium, path)
    assert [i["alt"] for i in images] == ["confusion matrix", "calibration curve", "latency histogram"]
    assert all(i["complete"] and i["w"] == 500 and i["h"] == 400 and i["scheme"] == "data" for i in images), images
    text = chromium.find_element("tag name", "body").text
    assert "mlship evaluation" in text and "first half" in text
    assert f"{report.metrics['accuracy']:.4f}" in text
    assert "Per class" in text and "Latency" in text
    _assert_self_contained(chromium)


def test_regression_report_shows_its_own_plots(chromium, digits, tmp_path):
    _, X, _, _ = digits
    target = X @ np.linspace(-1, 1, 64).astype(np.float32) + 0.1
    net = torch.nn.Linear(64, 1).eval()
    path = mlship.evaluate(net, X, target, task="regression").save_html(tmp_path / "regression.html")
    images = _open(chromium, path)
    assert [i["alt"] for i in images] == ["predictions against targets", "residuals", "latency histogram"]
    assert all(i["w"] > 0 for i in images)


def test_comparison_report_shows_both_models(chromium, digits_model, weak_model, digits, tmp_path):
    _, X, _, y = digits
    result = mlship.compare(digits_model, weak_model, X, y, n_resamples=100, metrics=["accuracy", "log_loss", "ece"])
    path = result.save_html(tmp_path / "compare.html")
    images = _open(chromium, path)
    assert [i["alt"] for i in images] == ["candidate: confusion matrix", "baseline: confusion matrix",
                                          "calibration curves", "latency histograms"]
    assert all(i["w"] > 0 for i in images)
    assert chromium.find_element("css selector", "td.better").text == "better"
    assert result.summary() in chromium.find_element("tag name", "body").text
    _assert_self_contained(chromium)


def test_text_in_the_page_is_escaped(digits_model, digits):
    _, X, _, y = digits
    report = mlship.evaluate(digits_model, X[:40], y[:40], slices={"<script>alert(1)</script>": np.ones(40, bool)})
    page = report.to_html()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert report._repr_html_() == page
