"""Login sessions: a plugin's ``login(tab)`` once per browser, its cookies and localStorage kept on disk.

The first page of a plugin with a ``login`` hook in a new browser either restores the saved
session (``<[pool] data_dir>/sessions/<plugin>.json``: load its origin, add the cookies, set
localStorage) or, when there is none, runs ``login`` and saves what it left. When the plugin's
``logged_in(page)`` says False, the worker logs in again (once per page) and loads the page once
more. Session files are mode 0600 and their content is never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from scrapeline.convert import utc_now_iso
from scrapeline.settings import Settings
from scrapers.browser import WAIT_SLICE_S
from scrapers.navigation import NavigationFailed, NavigationTimeout, navigate
from scrapers.plugin import Page, Plugin
from scrapers.readiness import WaitFor, readiness
from scrapers.tab import InteractionError, Tab

log = logging.getLogger("scrapeline.sessions")
FILE_MODE = 0o600
COOKIE_KEYS = ("name", "value", "path", "domain", "secure", "httpOnly", "expiry", "sameSite")
# Selenium logs every command and answer at DEBUG: cookies, localStorage and typed passwords included.
WIRE_LOGGER = logging.getLogger("selenium.webdriver.remote.remote_connection")
LOCAL_STORAGE_SCRIPT = "return Object.fromEntries(Object.entries(window.localStorage));"
SET_LOCAL_STORAGE_SCRIPT = "for (const [key, value] of Object.entries(arguments[0])) window.localStorage.setItem(key, value);"


class LoginFailed(RuntimeError):
    """The plugin's login (or logged_in) failed, or the page still says "logged out" after a fresh login."""


class LoginTab(Tab):
    """The :class:`~scrapers.tab.Tab` a plugin's ``login`` gets: it can also open pages and type."""

    def __init__(self, driver: WebDriver, *, page_load_timeout: float, default_timeout: float, script_timeout: float) -> None:
        super().__init__(driver, default_timeout=default_timeout, script_timeout=script_timeout)
        self._page_load_timeout = page_load_timeout

    def open(self, url: str, wait_for: WaitFor = None) -> None:
        """Load ``url`` and return once ``wait_for`` holds (a selector, ``js(...)``; default: the DOM is parsed)."""
        try:
            navigate(self._driver, url, readiness(wait_for), page_load_timeout=self._page_load_timeout, wait_timeout=self.default_timeout)
        except (NavigationTimeout, NavigationFailed) as exc:
            raise InteractionError(f"{url}: {exc}") from None

    def type(self, selector: str, text: str, timeout: float | None = None) -> None:
        """Replace the value of the field ``selector`` with ``text``, as keystrokes."""
        self.wait_for(selector, timeout)
        element = self._driver.find_element(By.CSS_SELECTOR, selector)
        element.clear()
        element.send_keys(text)


class Sessions:
    """One worker's sessions: which browser is logged in for which plugin, and the files that keep them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.data_dir / "sessions"
        # plugin name -> the WebDriver session id of the browser whose session is in place
        self._ready: dict[str, str] = {}

    @staticmethod
    def wanted(plugin: Plugin) -> bool:
        return type(plugin).login is not Plugin.login

    def path(self, plugin_name: str) -> Path:
        return self.folder / f"{plugin_name}.json"

    def prepare(self, plugin: Plugin, driver: WebDriver) -> None:
        """Before a browser's first page of ``plugin``: restore its saved session, else log in."""
        if not self.wanted(plugin) or self._ready.get(plugin.name) == driver.session_id:
            return
        saved = self._read(plugin.name)
        with _unlogged():
            restored = saved is not None and self._restore(plugin, driver, saved)
        if restored:
            log.info("plugin %s: saved session restored", plugin.name)
            self._ready[plugin.name] = driver.session_id
            return
        self.login(plugin, driver)

    def load(self, plugin: Plugin, url: str, load_page: Callable[[], Page], driver: Callable[[], WebDriver]) -> Page:
        """``load_page()``; a page that ``plugin.logged_in`` finds logged out loads once more after a fresh login."""
        page = load_page()
        if not self.expired(plugin, page):
            return page
        log.info("plugin %s: %s was served logged out; logging in again", plugin.name, url)
        try:
            self.login(plugin, driver())
        except WebDriverException as exc:
            raise LoginFailed(f"plugin {plugin.name}: the browser failed while logging in again: {_first_line(exc)}") from None
        page = load_page()
        if self.expired(plugin, page):
            raise LoginFailed(f"{url}: still logged out after a fresh login of plugin {plugin.name}")
        return page

    def expired(self, plugin: Plugin, page: Page) -> bool:
        """Whether ``plugin.logged_in(page)`` says the page was served to a logged-out user."""
        if not self.wanted(plugin):
            return False
        try:
            return not plugin.logged_in(page)
        except Exception as exc:
            raise LoginFailed(f"plugin {plugin.name}: logged_in failed on {page.url}: {type(exc).__name__}: {_first_line(exc)}") from None

    def login(self, plugin: Plugin, driver: WebDriver) -> None:
        """Run the plugin's login in this browser and save the session it leaves."""
        tab = LoginTab(
            driver,
            page_load_timeout=self.settings.browser.page_load_timeout,
            default_timeout=float(plugin.settings["wait_timeout"]),
            script_timeout=self.settings.browser.script_timeout,
        )
        try:
            with _unlogged():
                plugin.login(tab)
        except WebDriverException:
            raise  # the browser's own failure: the worker starts a fresh one and tries again
        except Exception as exc:
            raise LoginFailed(f"plugin {plugin.name}: login failed: {type(exc).__name__}: {_first_line(exc)}") from None
        finally:
            if tab.script_timeout_raised:
                driver.set_script_timeout(WAIT_SLICE_S + 2)
        with _unlogged():
            self._save(plugin.name, driver)
        self._ready[plugin.name] = driver.session_id
        log.info("plugin %s logged in; session saved", plugin.name)

    # -- the session file ----------------------------------------------------------------------

    def _save(self, plugin_name: str, driver: WebDriver) -> None:
        origin = driver.execute_script("return location.origin;")
        if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
            log.warning("plugin %s: login ended on no web page, so its session cannot be saved", plugin_name)
            return
        state = {
            "origin": origin,
            "saved_at": utc_now_iso(),
            "cookies": driver.get_cookies(),
            "local_storage": driver.execute_script(LOCAL_STORAGE_SCRIPT) or {},
        }
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(plugin_name)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.fchmod(descriptor, FILE_MODE)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(state, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            log.warning("plugin %s: the session could not be saved (%s); the next browser logs in again", plugin_name, exc.strerror or exc)

    def _read(self, plugin_name: str) -> dict[str, Any] | None:
        try:
            state = json.loads(self.path(plugin_name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("plugin %s: the saved session is unreadable (%s); logging in again", plugin_name, type(exc).__name__)
            return None
        return state if isinstance(state, dict) and isinstance(state.get("origin"), str) else None

    def _restore(self, plugin: Plugin, driver: WebDriver, state: dict[str, Any]) -> bool:
        origin = state["origin"]
        try:
            navigate(driver, origin + "/", readiness(None), page_load_timeout=self.settings.browser.page_load_timeout,
                     wait_timeout=float(plugin.settings["wait_timeout"]))
            if driver.execute_script("return location.origin;") != origin:
                return False
            now = time.time()
            for cookie in state.get("cookies") or []:
                if cookie.get("expiry") is not None and cookie["expiry"] <= now:
                    continue
                kept = {key: cookie[key] for key in COOKIE_KEYS if key in cookie}
                if not str(kept.get("domain", "")).startswith("."):
                    kept.pop("domain", None)  # a host-only cookie: the page's own host
                driver.add_cookie(kept)
            driver.execute_script(SET_LOCAL_STORAGE_SCRIPT, state.get("local_storage") or {})
        except (NavigationTimeout, NavigationFailed, WebDriverException) as exc:
            log.info("plugin %s: the saved session could not be restored (%s); logging in again", plugin.name, type(exc).__name__)
            return False
        return True


@contextlib.contextmanager
def _unlogged() -> Iterator[None]:
    """Selenium's wire log held at INFO while session secrets cross it."""
    level = WIRE_LOGGER.level
    WIRE_LOGGER.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        WIRE_LOGGER.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = (getattr(exc, "msg", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
