"""Load one page in a browser and take its HTML the moment the plugin's data is there.

The browser runs with page-load strategy ``none``: navigation is a script that
returns at once, readiness is polled inside the page (``scrapers/readiness.py``),
and both have deadlines of our own. ChromeDriver's own waits do not serve:
under ``normal`` they wait for every third-party resource's load event, and
under ``eager`` or ``none`` a ``get`` to a server that never answers ignores
the page-load timeout. A navigation that outlives its deadline is aborted by
loading ``about:blank``, which ChromeDriver accepts even while a navigation is
pending, locally and through a Selenium Grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable

from selenium.common.exceptions import JavascriptException, TimeoutException, WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from scrapers.browser import WAIT_SLICE_S
from scrapers.readiness import NAVIGATE_SCRIPT, RETRY_AFTER_SCRIPT, SNAPSHOT_SCRIPT, Readiness
from scrapers.tab import Tab

# Python predicates on the Tab are checked between shorter in-page slices.
TAB_PREDICATE_SLICE_S = 0.2


class NavigationTimeout(RuntimeError):
    """The page did not answer within the page-load timeout, or was not ready within the wait timeout."""


class NavigationFailed(RuntimeError):
    """The browser could not reach the page (name not resolved, connection refused...)."""


@dataclass
class Arrival:
    """A page on screen and ready (or answering with an error status)."""

    status: int | None
    timings: dict[str, float] = field(default_factory=dict)
    # The HTML and URL when the wait took them (take_html and an in-page readiness), else None.
    html: str | None = None
    url: str | None = None


def navigate(driver: WebDriver, url: str, readiness: Readiness, *, page_load_timeout: float, wait_timeout: float,
             before_abort: Callable[[], None] | None = None, take_html: bool = False) -> Arrival:  # fmt: skip
    """Open ``url`` and return once ``readiness`` holds or the page answers with status >= 400.

    ``before_abort`` runs when the page is given up, while the tab still shows it (a failure snapshot)."""
    started = time.monotonic()
    driver.execute_script(NAVIGATE_SCRIPT, url)
    in_page = readiness if readiness.expression or not readiness.tab_predicates else Readiness("false", ())
    script = in_page.wait_script_taking(html=take_html)
    slice_s = TAB_PREDICATE_SLICE_S if readiness.tab_predicates else WAIT_SLICE_S
    arrived_after: float | None = None
    while True:
        now = time.monotonic()
        deadline = started + page_load_timeout if arrived_after is None else started + arrived_after + wait_timeout
        if now >= deadline:
            # Before any response the tab still shows the previous page: nothing of this one to keep
            # (and reading a tab whose navigation is pending makes Chromium ask the server again).
            abort(driver, before_abort if arrived_after is not None else None)
            if arrived_after is None:
                raise NavigationTimeout(f"no response within the page-load timeout ({page_load_timeout:g} s)")
            raise NavigationTimeout(f"not ready within {wait_timeout:g} s: waited for {readiness.describe() or 'the DOM'}")
        try:
            state = driver.execute_async_script(script, int(min(slice_s, deadline - now) * 1000))
        except TimeoutException:
            continue  # a navigation is pending before its response: scripts wait for it
        except JavascriptException:
            continue  # the previous document unloaded while the script ran on it
        if not state or not state.get("arrived"):
            continue
        if arrived_after is None:
            arrived_after = min(float(state.get("responseStart") or 0) / 1000, time.monotonic() - started)
        status = state.get("status")
        if state.get("failed"):
            reason = str(state.get("reason") or "")
            if reason.startswith("HTTP ERROR "):
                status = int(reason.rsplit(" ", 1)[1])  # an error status with an empty body
            else:
                abort(driver, before_abort)
                raise NavigationFailed(f"the browser could not reach the page ({reason or 'no reason given'})")
        if state.get("ready") or (status is not None and status >= 400) or _tab_ready(driver, readiness):
            waited = time.monotonic() - started
            arrival = Arrival(status, {"navigate": arrived_after, "wait": max(0.0, waited - arrived_after)}, state.get("html"), state.get("url"))
            if arrival.html is not None:
                arrival.timings["html"] = float(state.get("htmlMs") or 0) / 1000
                arrival.timings["wait"] = max(0.0, arrival.timings["wait"] - arrival.timings["html"])
            return arrival


def snapshot(driver: WebDriver) -> tuple[str, str, int | None]:
    """The page's HTML, its URL and HTTP status; loads still running are stopped."""
    html, url, status = driver.execute_script(SNAPSHOT_SCRIPT)
    return html, url, status


def retry_after_s(driver: WebDriver) -> float | None:
    """Seconds the page on screen asks to wait (its Retry-After), if it says."""
    try:
        value = driver.execute_async_script(RETRY_AFTER_SCRIPT)
    except WebDriverException:
        return None
    return parse_retry_after(value)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def abort(driver: WebDriver, before: Callable[[], None] | None = None) -> None:
    """Cancel whatever the tab is loading (after ``before``, which still sees it)."""
    if before is not None:
        before()
    try:
        driver.get("about:blank")
    except WebDriverException:
        pass  # the browser is gone; the caller's next command says so


def _tab_ready(driver: WebDriver, readiness: Readiness) -> bool:
    if not readiness.tab_predicates:
        return False
    tab = Tab(driver)
    return any(predicate(tab) for predicate in readiness.tab_predicates)
