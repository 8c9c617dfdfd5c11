"""A small wrapper around the Selenium driver for a plugin's ``interact`` hook.

Plugins act on pages through these few verbs instead of raw driver calls,
so waits have timeouts and failures name the selector.
"""

from __future__ import annotations

import time

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


class InteractionError(RuntimeError):
    """An interaction step failed (an element never appeared, a click was refused)."""


class Tab:
    """The rendered page a plugin's ``interact`` hook acts on."""

    def __init__(self, driver: WebDriver, default_timeout: float = 10.0, script_timeout: float | None = None) -> None:
        self._driver = driver
        self.default_timeout = default_timeout
        # The browser keeps a short script timeout for its readiness polls; a plugin's own scripts
        # get [browser] script_timeout, set on the first call and put back by the worker.
        self._script_timeout = script_timeout
        self.script_timeout_raised = False

    @property
    def url(self) -> str:
        return self._driver.current_url

    def count(self, selector: str) -> int:
        """How many elements match ``selector`` now."""
        return len(self._driver.find_elements(By.CSS_SELECTOR, selector))

    def wait_for(self, selector: str, timeout: float | None = None) -> None:
        """Wait until an element matching ``selector`` is present."""
        try:
            WebDriverWait(self._driver, timeout or self.default_timeout).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector))
            )
        except TimeoutException:
            raise InteractionError(f"{selector!r} did not appear within {timeout or self.default_timeout:g} s") from None

    def click(self, selector: str, timeout: float | None = None) -> None:
        """Click the first element matching ``selector`` once it is clickable."""
        try:
            element = WebDriverWait(self._driver, timeout or self.default_timeout).until(
                expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector))
            )
            element.click()
        except TimeoutException:
            raise InteractionError(f"{selector!r} was not clickable within {timeout or self.default_timeout:g} s") from None

    def click_if_present(self, selector: str) -> bool:
        """Click ``selector`` if it is on the page now (a cookie banner); True when clicked."""
        elements = self._driver.find_elements(By.CSS_SELECTOR, selector)
        if not elements:
            return False
        try:
            elements[0].click()
        except WebDriverException:
            return False
        return True

    def scroll_to_bottom(self, *, pause: float = 0.2, max_rounds: int = 30, until_gone: str | None = None) -> int:
        """Scroll down step by step until the page stops growing (lazy rows load on scroll).

        With ``until_gone``, stop as soon as no element matches that selector
        (e.g. the placeholder rows). Returns the number of scroll steps.
        """
        last_height = -1
        for step in range(1, max_rounds + 1):
            height = self._driver.execute_script(
                "window.scrollBy(0, window.innerHeight); return document.body.scrollHeight;"
            )
            time.sleep(pause)
            at_bottom = self._driver.execute_script(
                "return window.innerHeight + window.scrollY >= document.body.scrollHeight - 2;"
            )
            if until_gone is not None and self.count(until_gone) == 0:
                return step
            if at_bottom and height == last_height:
                return step
            last_height = height
        return max_rounds

    def execute(self, script: str, *args: object) -> object:
        """Run JavaScript in the page and return its result."""
        if self._script_timeout is not None and not self.script_timeout_raised:
            self._driver.set_script_timeout(self._script_timeout)
            self.script_timeout_raised = True
        return self._driver.execute_script(script, *args)
