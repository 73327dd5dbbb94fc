"""A real headless browser for tests: Debian's Chromium driven through ChromeDriver.

``browser_problem()`` names what is missing (the two Debian packages ``chromium`` and
``chromium-driver``, or the ``selenium`` package). The ``browser`` fixture in
``tests/conftest.py`` skips with that reason on a developer's machine and fails under
``REQUIRE_BROWSER=1`` (CI sets it and installs the packages), so a missing browser never
hides a test in CI.

Selenium is given the driver's path, so Selenium Manager never tries to download one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1280, 900)


def browser_problem() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).exists() or shutil.which(path))]
    if missing:
        return (f"no headless browser: {', '.join(missing)} missing "
                "(apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no headless browser: the selenium package is not installed (pip install -e '.[test]')"
    return None


def start_browser():
    """A fresh headless Chromium (its own profile, no cookies), 1280×900."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run", f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def screenshot_colours(png: bytes) -> int:
    """How many distinct colours a PNG screenshot holds (decoded with Pillow). A blank or
    failed page has one or two; a rendered page with text, borders and badges has hundreds."""
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or [])


def screenshot_size(png: bytes) -> tuple[int, int]:
    from io import BytesIO

    from PIL import Image

    return Image.open(BytesIO(png)).size


def click_and_wait_for_page(browser, button, timeout: float = 15) -> None:
    """Click a button that submits a form and wait until the next page has loaded.

    ``click()`` returns as soon as the click is dispatched, before the form's POST has been
    answered, so reading the page straight after it may still read the old one (or find
    nothing). The old document is marked before the click; the wait ends when the browser
    shows a document without the mark that has finished loading. While the browser
    navigates, ChromeDriver may answer a query with an error instead of a value ("unhandled
    inspector error", "Cannot find context"): such answers mean "not yet" and are asked again.
    """
    import secrets

    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    mark = secrets.token_hex(8)
    browser.execute_script("document.documentElement.dataset.beforeClick = arguments[0];", mark)
    button.click()

    def next_page_loaded(driver) -> bool:
        return driver.execute_script(
            "return document.readyState === 'complete'"
            " && document.documentElement.dataset.beforeClick !== arguments[0];", mark)

    WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(next_page_loaded)
