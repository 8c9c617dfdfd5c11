"""The baselines' browser: Chromium through ChromeDriver and plain Selenium, with scrapeline's flags.

The benches' raw loops start their browsers here rather than through scrapers.browser, so that a
baseline stays the same plain Selenium loop whatever the pool does: ``eager`` page loads (``get``
returns at DOMContentLoaded), then a 50 ms poll for the page's selector.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass
class RawChrome:
    driver: webdriver.Chrome
    profile: str

    def render(self, url: str, selector: str, timeout: float = 20.0) -> tuple[str, tuple[float, float, float]]:
        """The page's HTML once ``selector`` is present, and the seconds of get, wait and page_source."""
        t0 = time.perf_counter()
        self.driver.get(url)
        t1 = time.perf_counter()
        WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector))
        )
        t2 = time.perf_counter()
        html = self.driver.page_source
        return html, (t1 - t0, t2 - t1, time.perf_counter() - t2)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def start_chrome(flags: tuple[str, ...] | list[str], chromium: str = CHROMIUM, chromedriver: str = CHROMEDRIVER) -> RawChrome:
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    for flag in flags:
        options.add_argument(flag)
    options.add_argument("--window-size=1366,900")
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = chromium
    options.page_load_strategy = "eager"
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    return RawChrome(driver, profile)
