"""The web viewer in a real browser: Debian's headless Chromium driven by selenium through chromedriver.

Proves what only a browser can: scripts run (htmx loads the rest of a long
timeline, Chart.js draws the console's chart) and a step's ``<script>`` does
not. Screenshots of the main pages go to ``$TRELLIS_SCREENSHOTS`` or a
temporary directory (printed), as test artifacts. ``.ci/run`` installs
chromium and chromium-driver; without them the tests skip, except under CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LONG_STEPS, OTHER, REPO, SCRIPT, WIDE_FILES, Site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The flags that work on a machine without a network or a display (see docs/ui.md, "Tests").
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs {CHROMIUM} and {CHROMEDRIVER}: .ci/run installs chromium and chromium-driver")
    pytest.skip("no chromium / chromedriver (apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = (
        Path(os.environ["TRELLIS_SCREENSHOTS"])
        if os.environ.get("TRELLIS_SCREENSHOTS")
        else tmp_path_factory.mktemp("screenshots")
    )
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {where}")
    return where


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="trellis-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(browser: WebDriver, site: Site, token: str) -> None:
    browser.get(site.url + "/logout-page-does-not-exist")  # any page of the site, to own its cookies
    browser.delete_all_cookies()
    browser.get(site.url + "/login")
    browser.find_element(By.ID, "token").send_keys(site.tokens[token])
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    WebDriverWait(browser, 30).until(lambda b: "/login" not in b.current_url)


def wait(browser: WebDriver, condition: object, seconds: float = 30) -> None:
    WebDriverWait(browser, seconds).until(condition)  # type: ignore[arg-type]


def test_signing_in_and_the_repository_page(browser: WebDriver, site: Site, shots: Path) -> None:
    browser.delete_all_cookies()
    browser.get(site.url + f"/repositories/{REPO}")
    assert browser.find_elements(By.ID, "token")  # 401: the sign-in form
    sign_in(browser, site, "reader-all")
    browser.get(site.url + f"/repositories/{REPO}")
    branches = browser.find_element(By.ID, "branches").text
    assert "feature/left" in branches and "passed" in branches
    browser.save_screenshot(str(shots / "repository.png"))


def test_timeline_shows_steps_in_order_and_script_as_text(browser: WebDriver, site: Site, shots: Path) -> None:
    sign_in(browser, site, "reader-all")
    browser.get(site.url + f"/repositories/{REPO}/sessions/{site.session_id}")
    indexes = [int(e.get_attribute("data-index") or 0) for e in browser.find_elements(By.CSS_SELECTOR, ".step")]
    assert indexes == list(range(1, site.steps + 1))
    step = browser.find_element(By.ID, "step-2").text
    assert SCRIPT in step  # shown as text...
    assert browser.execute_script("return window.pwned === undefined")  # ...and never run
    assert browser.title != "pwned"
    assert browser.find_element(By.CSS_SELECTOR, ".subagent #step-4")
    browser.find_element(By.ID, "step-5").find_element(By.PARTIAL_LINK_TEXT, "commit").click()
    wait(browser, lambda b: "/commits/" in b.current_url)
    browser.back()
    browser.save_screenshot(str(shots / "session.png"))


def test_long_timeline_loads_progressively(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site, "reader-all")
    base = site.url + f"/repositories/{REPO}/sessions/{site.extra['long_session']}"
    browser.get(base)
    first = len(browser.find_elements(By.CSS_SELECTOR, ".step"))
    assert 0 < first < LONG_STEPS
    for _ in range(10):  # each scroll to the end reveals the sentinel; htmx fetches the next batch
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        try:
            wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".step")) > first, 10)
        except Exception:
            pass
        first = len(browser.find_elements(By.CSS_SELECTOR, ".step"))
        if first == LONG_STEPS:
            break
    indexes = [int(e.get_attribute("data-index") or 0) for e in browser.find_elements(By.CSS_SELECTOR, ".step")]
    assert indexes == list(range(1, LONG_STEPS + 1))
    # a link to a step that is not on the first screen starts the timeline there
    browser.get(base + f"#step-{LONG_STEPS - 5}")
    wait(browser, lambda b: b.find_elements(By.ID, f"step-{LONG_STEPS - 5}"))


def test_commit_page_shows_entity_changes_and_verdict(browser: WebDriver, site: Site, shots: Path) -> None:
    sign_in(browser, site, "reader-demo")
    browser.get(site.url + f"/repositories/{REPO}/commits/{site.commit_id}")
    changes = browser.find_element(By.ID, "entity-changes").text
    assert "renamed" in changes and "app.models.assist" in changes and "added" in changes
    assert browser.find_element(By.ID, "run-verdict").text == "passed"
    assert browser.find_elements(By.CSS_SELECTOR, "table.diff td.added")
    browser.save_screenshot(str(shots / "commit.png"))


def test_a_wide_commit_loads_the_diffs_below_the_first_screen(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site, "reader-all")
    browser.get(site.url + f"/repositories/{REPO}/commits/{site.extra['wide_commit']}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.diff")) < WIDE_FILES
    for _ in range(WIDE_FILES):
        if len(browser.find_elements(By.CSS_SELECTOR, "table.diff")) == WIDE_FILES:
            break
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        try:
            wait(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, ".file.later"), 3)
        except Exception:
            pass
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.diff")) == WIDE_FILES


def test_console_runs_a_query_and_draws_its_chart(browser: WebDriver, site: Site, shots: Path) -> None:
    sign_in(browser, site, "reader-all")
    browser.get(site.url + "/query")
    box = browser.find_element(By.ID, "sql")
    box.clear()
    box.send_keys(
        "SELECT tool, count(*) AS steps FROM (SELECT metadata['tool'] AS tool FROM steps) "
        "WHERE tool IS NOT NULL GROUP BY tool ORDER BY steps DESC"
    )
    browser.find_element(By.CSS_SELECTOR, "#console button").click()
    wait(browser, lambda b: b.find_elements(By.ID, "result"))
    assert "Bash" in browser.find_element(By.ID, "result").text
    wait(browser, lambda b: b.find_element(By.ID, "chart").get_attribute("data-drawn") == "1")
    painted = browser.execute_script(
        "const c = document.getElementById('chart'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n;"
    )
    assert painted > 1000  # the bars are on the canvas
    browser.save_screenshot(str(shots / "console.png"))


def test_reader_of_one_repository_is_refused_another(browser: WebDriver, site: Site, shots: Path) -> None:
    sign_in(browser, site, "reader-demo")
    browser.get(site.url + f"/repositories/{OTHER}")
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "classified" not in browser.page_source
    browser.get(site.url + "/query?" + urllib.parse.urlencode({"sql": "SELECT 1"}))
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text


def test_merge_preview_in_the_browser(browser: WebDriver, site: Site, shots: Path) -> None:
    sign_in(browser, site, "reader-all")
    browser.get(site.url + f"/repositories/{REPO}/merge?target=feature/left&source=feature/right")
    assert "conflict" in browser.find_element(By.ID, "merge-outcome").text
    browser.save_screenshot(str(shots / "merge.png"))
