"""The web demo in a real browser (headless Chromium driven by selenium): the shipped model serves the page on
127.0.0.1, the example clip is uploaded, an edit runs, and the output player, the plot and the report appear.

Needs Debian's `chromium` and `chromium-driver` (the README's test command installs them). The browser resolves no
host but 127.0.0.1, and the test checks that the page asked for nothing else. A screenshot is saved as a test artifact
(in the test's tmp folder, path printed); `LATENTDIFF_EDIT_DEMO_SCREENSHOT=docs/demo.png` also writes it there, as
the README's is made:

    LATENTDIFF_EDIT_DEMO_SCREENSHOT=docs/demo.png pytest tests/apps/test_demo_browser.py -s
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("gradio")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from latentdiff_edit.apps.demo import launch_demo  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "example.wav"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT_ENV = "LATENTDIFF_EDIT_DEMO_SCREENSHOT"
MAX_SCREENSHOT_BYTES = 300_000
EDIT_TIMEOUT = 900  # seconds: 50 steps on 2 busy CPU cores

# Gradio's player draws the waveform with wavesurfer, whose <audio> lives in a shadow root
PLAYER = "Array.from(document.querySelectorAll('#after-audio *')).find(e => e.shadowRoot)"
RESULT_SHOWN = (f"const player = {PLAYER}; const media = player && player.shadowRoot.querySelector('audio');"
                "const img = document.querySelector('#edit-plot img');"
                "return Boolean(media && media.src && img && img.complete && img.naturalWidth > 0);")
PLAYER_DURATION = (f"const media = {PLAYER}.shadowRoot.querySelector('audio');"
                   "return media.readyState >= 1 && media.duration;")
PROGRESS_SHOWN = ("return Array.from(document.querySelectorAll('[data-testid=status-tracker]'))"
                  ".some(e => /\\d+\\/\\d+ steps/.test(e.textContent));")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The demo of the shipped model at its defaults, as `latentdiff-edit demo` starts it; closed after the module."""
    port = free_port()
    demo = launch_demo(None, host="127.0.0.1", port=port, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--hide-scrollbars", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     # nothing but this machine: any other host fails to resolve
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver, path: Path) -> Path:
    """The whole page as a PNG of at most MAX_SCREENSHOT_BYTES (palette colours; width halved if still too big)."""
    from PIL import Image

    for _ in range(2):  # the layout may grow once the window is taller
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(height + 40, 800), 4000))
        time.sleep(0.5)
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.2)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    for scale in (1.0, 0.75, 0.5):
        resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        buffer = io.BytesIO()
        resized.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= MAX_SCREENSHOT_BYTES:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_edit_the_example_clip_in_a_browser(server, browser, tmp_path):
    assert sf.info(EXAMPLE).duration == pytest.approx(3.0, abs=0.05)
    browser.get(server)
    wait = WebDriverWait(browser, 120)
    upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#source-audio input[type=file]"))
    upload.send_keys(str(EXAMPLE))
    # the upload is done when the component shows the clip (its player replaces the drop zone)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#source-audio audio, #source-audio .waveform-container"))

    pitch = browser.find_element(By.CSS_SELECTOR, "#pitch input[type=number]")
    pitch.clear()
    pitch.send_keys("3\n")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#pitch input[type=range]").get_attribute("value") == "3")

    button = browser.find_element(By.ID, "edit-button")
    progress_seen = []

    def result_shown(driver):
        # the progress bar follows the pipeline's inversion and denoising steps ("12/40 steps")
        progress_seen.append(driver.execute_script(PROGRESS_SHOWN))
        return driver.execute_script(RESULT_SHOWN)

    started = time.perf_counter()
    button.click()
    try:
        WebDriverWait(browser, EDIT_TIMEOUT, poll_frequency=0.2).until(result_shown)
    except TimeoutException:
        save_screenshot(browser, tmp_path / "timeout.png")
        errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']")]
        pytest.fail(f"no result after {EDIT_TIMEOUT} s; messages on the page: {errors}; see {tmp_path}")
    seconds = time.perf_counter() - started
    assert any(progress_seen), "no step progress was shown during the edit"

    # the output player holds the whole edited clip; its download is the edited file
    duration = WebDriverWait(browser, 30).until(lambda d: d.execute_script(PLAYER_DURATION))
    assert duration == pytest.approx(sf.info(EXAMPLE).duration, abs=0.02)
    link = browser.find_element(By.CSS_SELECTOR, "#after-audio a[data-testid='download-link']")
    assert link.get_attribute("href").startswith(server) and link.get_attribute("href").endswith("_edited.wav")
    assert browser.find_element(By.CSS_SELECTOR, "#after-audio button[aria-label='Play']").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#before-audio a[data-testid='download-link']").get_attribute(
        "href").endswith("_source.wav")
    assert browser.find_element(By.CSS_SELECTOR, "#edit-plot img").get_attribute("src").endswith("_edit.png")
    report = browser.find_element(By.ID, "report").text
    assert "should not change" in report and "+3.00 st" in report and "duration" in report
    assert browser.find_element(By.CSS_SELECTOR, "#download a").get_attribute("href").endswith("_edited.wav")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']")

    outside = [url for url in requested_urls(browser)
               if not url.startswith((server, "data:", "blob:", "chrome-extension:"))]
    assert outside == [], f"the page asked for other hosts: {outside}"

    artifact = save_screenshot(browser, tmp_path / "demo.png")
    print(f"\nclick to result: {seconds:.1f} s (3 s clip, shipped model, demo defaults); screenshot: {artifact}")
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(artifact, os.environ[SCREENSHOT_ENV])
    assert artifact.stat().st_size <= MAX_SCREENSHOT_BYTES
