"""The app in a real browser: Debian's Chromium, driven by Playwright, against a live server.

Needs the `chromium` package (`apt-get install chromium`; .ci/run installs it). The
screenshot goes to scratch/app.png, or to the path in APP_SCREENSHOT (`make app-screenshot`
writes figures/app.png, the picture in README.md).
"""
import os
import shutil
from pathlib import Path

import pytest

from utils import config, data, prediction, saving, serving

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
UPLOAD = config.ROOT / "app" / "examples" / "test_0013_horse.png"

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Chromium for the browser test: apt-get install chromium")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


def expected_class(image_path):
    """What the app's default network predicts for the image, computed here directly."""
    network = saving.load_model(config.ROOT / "models" / "best_cnn.keras")
    image = prediction.load_image(image_path)
    return data.CLASS_NAMES[prediction.predict_probabilities(network, image).argmax()]


def test_upload_in_a_real_browser_shows_the_prediction(tmp_path):
    screenshot = Path(os.environ.get("APP_SCREENSHOT", config.SCRATCH_DIR / "app.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with serving.running_app(tmp_path / "server.log") as (url, seconds_to_healthy):
        print(f"health check answered {seconds_to_healthy:.1f} s after start")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 1200})
                page.goto(url)
                page.get_by_text("Prediction:").wait_for(timeout=120_000)  # the default example
                page.locator("input[type=file]").set_input_files(UPLOAD)
                page.get_by_text(f"{UPLOAD.name}, as uploaded").wait_for(timeout=60_000)
                prediction_text = page.get_by_text("Prediction:")
                prediction_text.wait_for(timeout=60_000)
                assert prediction_text.inner_text() == f"Prediction: {expected_class(UPLOAD)}"
                assert page.get_by_text("Confidence:").is_visible()
                page.locator("[data-testid=stVegaLiteChart] canvas, "
                             "[data-testid=stVegaLiteChart] svg").first.wait_for(timeout=30_000)
                page.wait_for_timeout(1000)  # let the chart finish drawing
                page.screenshot(path=screenshot, full_page=True)
            finally:
                browser.close()
    assert screenshot.stat().st_size > 10_000
