"""Start a headless Chromium through Selenium: local (with a resolved ChromeDriver) or on a Selenium Grid."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from urllib3.exceptions import HTTPError

from scrapeline.settings import BrowserSettings
from scrapers.blocking import RESOLVER_RULES_FLAG, Blocking, merge_resolver_rules
from scrapers.proxies import Proxy, ProxyError, Route, open_route

# Seconds one in-page wait script may poll before it returns to Python (see scrapers/navigation.py).
WAIT_SLICE_S = 1.0

log = logging.getLogger(__name__)

# Flags that make Chromium usable headless as root in a container and keep it
# from calling home (the calls fail, slowly, on a closed network).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--mute-audio",
    # Memory (docs/performance.md): no software GL in the GPU process, no crash handler, and none
    # of the renderers a headless scraper never uses: the omnibox popup's WebUI (~40 MB), a spare
    # renderer kept warm, pages kept for back/forward. [browser] extra_args' own --disable-features
    # replaces this list (Chromium keeps the last).
    "--disable-software-rasterizer",
    "--disable-breakpad",
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,SpareRendererForSitePerProcess,BackForwardCache,"
    "Translate,OptimizationHints,MediaRouter",
)
BROWSER_BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "Install Chromium and its driver (Debian/Ubuntu: `sudo apt-get install -y chromium chromium-driver`), "
    "or set [browser] driver_path and binary_path, or [browser] remote_url for a Selenium Grid."
)


class BrowserUnavailable(RuntimeError):
    """No browser could be started; the message says why and how to fix it."""


@dataclass
class Browser:
    """A started browser and the folder it owns (removed on quit)."""

    driver: WebDriver
    profile_dir: str | None
    # True when URL patterns are blocked through CDP on top of the start-up flags.
    cdp_blocking: bool = False
    # The proxy it goes through, and the local forwarder in front of it (closed on quit).
    route: Route | None = None

    @property
    def pid(self) -> int | None:
        """The ChromeDriver process id (local browsers only)."""
        service = getattr(self.driver, "service", None)
        process = getattr(service, "process", None)
        return process.pid if process else None

    def memory_mb(self) -> float:
        """Memory of ChromeDriver and every browser process under it, in MB (0 for a Grid).

        Proportional set size: pages the processes share are counted once, split among them,
        where summing RSS would count them once per process and overstate the browser severalfold.
        """
        if self.pid is None:
            return 0.0
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            try:
                info = process.memory_full_info()
                total += getattr(info, "pss", info.rss)
            except psutil.Error:
                pass
        return total / 1e6

    def quit(self) -> None:
        try:
            self.driver.quit()
        except Exception as exc:  # a dead browser cannot be quit twice; that is fine
            log.debug("quitting the browser failed: %s", exc)
        if self.profile_dir:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
        if self.route is not None:
            self.route.close()


def resolve_driver(settings: BrowserSettings) -> str:
    """The ChromeDriver to run: ``[browser] driver_path`` -> ``chromedriver`` on PATH -> webdriver-manager."""
    if settings.driver_path:
        path = Path(settings.driver_path).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise BrowserUnavailable(f"[browser] driver_path {settings.driver_path!r} is not an executable file. {INSTALL_HINT}")
    on_path = shutil.which("chromedriver")
    if on_path:
        return on_path
    try:
        from webdriver_manager.chrome import ChromeDriverManager
        from webdriver_manager.core.os_manager import ChromeType

        return ChromeDriverManager(chrome_type=ChromeType.CHROMIUM).install()
    except Exception as exc:  # any failure of the download is reported as one error below
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(
            "No ChromeDriver found: [browser] driver_path is empty, there is no `chromedriver` on PATH, "
            f"and webdriver-manager could not fetch one ({reason}). {INSTALL_HINT}"
        ) from None


def resolve_binary(settings: BrowserSettings) -> str | None:
    """The Chromium binary: ``[browser] binary_path``, else the first known name on PATH."""
    if settings.binary_path:
        path = Path(settings.binary_path).expanduser()
        if not path.is_file():
            raise BrowserUnavailable(f"[browser] binary_path {settings.binary_path!r} does not exist. {INSTALL_HINT}")
        return str(path)
    for name in BROWSER_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class BrowserProfile:
    """What a browser is started with for a page: two pages with equal profiles share a browser."""

    user_agent: str = ""
    blocking: Blocking = Blocking()
    # The proxies to take turns with: each new browser takes the next (scrapers/proxies.py).
    proxies: tuple[Proxy, ...] = ()


def chrome_options(
    settings: BrowserSettings, profile: BrowserProfile = BrowserProfile(), *, profile_dir: str | None = None, route: Route | None = None
) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    if settings.headless:
        options.add_argument("--headless=new")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={settings.window_size}")
    if profile.user_agent or settings.user_agent:
        options.add_argument(f"--user-agent={profile.user_agent or settings.user_agent}")
    if profile_dir:
        options.add_argument(f"--user-data-dir={profile_dir}")
    for flag in profile.blocking.chromium_flags():
        options.add_argument(flag)
    # Behind a proxy, host rules would reach only the proxy's own name: its forwarder blocks instead.
    own_rules = "" if route is not None else profile.blocking.resolver_rules()
    resolver_rules, extra_args = merge_resolver_rules(own_rules, settings.extra_args)
    for flag in route.chromium_flags() if route is not None else ():
        options.add_argument(flag)
    if resolver_rules:
        options.add_argument(f"{RESOLVER_RULES_FLAG}{resolver_rules}")
    for flag in extra_args:
        options.add_argument(flag)
    # "none": the worker navigates, waits for the plugin's readiness and stops the page itself
    # (scrapers/navigation.py). ChromeDriver's own waits ignore the page-load timeout when a
    # server never answers, and would wait for the load event of every third-party resource.
    options.page_load_strategy = "none"
    return options


def start_browser(settings: BrowserSettings, profile: BrowserProfile = BrowserProfile(), *, user_agent: str = "") -> Browser:
    """A ready browser for pages of ``profile``; raises :class:`BrowserUnavailable`."""
    if user_agent:
        profile = dataclasses.replace(profile, user_agent=user_agent)
    try:
        route = open_route(settings, profile.proxies, profile.blocking)
    except ProxyError as exc:
        raise BrowserUnavailable(str(exc)) from None
    try:
        browser = _start_browser(settings, profile, route)
    except BaseException:
        if route is not None:
            route.close()
        raise
    browser.route = route
    return browser


def _start_browser(settings: BrowserSettings, profile: BrowserProfile, route: Route | None) -> Browser:
    if settings.remote_url:
        try:
            driver = webdriver.Remote(command_executor=settings.remote_url, options=chrome_options(settings, profile, route=route))
        except (WebDriverException, HTTPError, OSError) as exc:  # an unreachable Grid fails in urllib3
            raise BrowserUnavailable(f"[browser] remote_url {settings.remote_url}: {_first_line(exc)}") from None
        browser = Browser(driver, None)
    else:
        driver_path = resolve_driver(settings)
        profile_dir = tempfile.mkdtemp(prefix="scrapeline-chromium-")
        options = chrome_options(settings, profile, profile_dir=profile_dir, route=route)
        binary = resolve_binary(settings)
        if binary:
            options.binary_location = binary
        try:
            driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        except WebDriverException as exc:
            shutil.rmtree(profile_dir, ignore_errors=True)
            raise BrowserUnavailable(f"Chromium did not start with driver {driver_path}: {_first_line(exc)}. {INSTALL_HINT}") from None
        browser = Browser(driver, profile_dir)
    try:
        # Scripts are bounded per call by the navigation (a slice of waiting) and by Tab.execute.
        driver.set_script_timeout(WAIT_SLICE_S + 2)
        # A new browser may still be opening its own start page, which would replace the first page.
        driver.get("about:blank")
        browser.cdp_blocking = block_urls(driver, profile.blocking.url_patterns())
    except WebDriverException as exc:
        browser.quit()
        raise BrowserUnavailable(f"the new browser did not take its settings: {_first_line(exc)}") from None
    return browser


def end_remote_session(remote_url: str, session_id: str | None, timeout: float = 5.0) -> None:
    """Free a Grid slot whose worker is gone: DELETE the session (a worker killed cannot quit it)."""
    if not remote_url or not session_id:
        return
    request = urllib.request.Request(f"{remote_url.rstrip('/')}/session/{session_id}", method="DELETE")
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
    except (OSError, ValueError) as exc:
        log.info("could not end Grid session %s: %s", session_id, exc)


def execute_cdp(driver: WebDriver, method: str, params: dict | None = None) -> dict:
    """A DevTools command through ChromeDriver's ``goog/cdp/execute``, locally or through a Grid."""
    if "executeCdpCommand" not in driver.command_executor._commands:
        driver.command_executor.add_command("executeCdpCommand", "POST", "/session/$sessionId/goog/cdp/execute")
    return driver.execute("executeCdpCommand", {"cmd": method, "params": params or {}})["value"]


def block_urls(driver: WebDriver, patterns: list[str]) -> bool:
    """Block ``patterns`` through CDP; False when CDP is out of reach (the flags still block)."""
    if not patterns:
        return False
    try:
        execute_cdp(driver, "Network.enable")
        execute_cdp(driver, "Network.setBlockedURLs", {"urls": patterns})
    except WebDriverException as exc:
        log.info("DevTools protocol not reachable (%s): resource types are blocked by start-up flags only", _first_line(exc))
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
