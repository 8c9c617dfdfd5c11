"""A page worker: keeps one browser (and one HTTP client), loads pages, runs the plugin's parser.

It runs in a worker process (scrapers/worker_process.py) and knows nothing of Kafka: results go
back to the pool over a pipe.
A page's time is split into phases (navigate, wait, html, parse; the pool adds
publish) so that a slow page says why.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from selenium.common.exceptions import InvalidSessionIdException, WebDriverException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from scrapeline.settings import Settings
from scrapers.blocking import Blocking
from scrapers.browser import WAIT_SLICE_S, Browser, BrowserProfile, BrowserUnavailable, start_browser
from scrapers.http_fetch import HttpFetcher, HttpFetchError
from scrapers.jobs import Job, JobResult
from scrapers.page_errors import PageLoadError, PageRefused, PluginFailed, check_status, retry_after_of
from scrapers.parse_results import collect
from scrapers.navigation import NavigationFailed, NavigationTimeout, navigate, parse_retry_after, retry_after_s, snapshot
from scrapers.plugin import Page, Plugin, Request
from scrapers.politeness import effective_user_agent
from scrapers.proxies import HttpProxyChoice, ProxyRefused, proxies_for, rotation_for
from scrapers.readiness import readiness
from scrapers.registry import Registry, discover
from scrapers.sessions import LoginFailed, Sessions
from scrapers.snapshots import Evidence, Snapshots, evidence_of, from_browser, reason_for
from scrapers.tab import InteractionError, Tab

log = logging.getLogger("scrapeline.worker")


class PageWorker:
    """Loads jobs one at a time in a reused browser, recycled after ``[browser] max_pages``, or over HTTP."""

    def __init__(self, settings: Settings, registry: Registry | None = None, snapshot_folder: Path | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else discover(settings.pool.plugin_paths)
        self._plugins: dict[str, Plugin] = {}
        self._browser: Browser | None = None
        self._browser_profile: BrowserProfile | None = None
        self._pages_on_browser = 0
        self._http: HttpFetcher | None = None
        self._http_proxies = HttpProxyChoice(settings.browser.max_pages)
        self._sessions = Sessions(settings)
        # Failure snapshots (scrapers/snapshots.py); every page's into snapshot_folder when given (plugins check --save).
        self._snapshots = Snapshots(settings, snapshot_folder)
        self._evidence: Evidence | None = None  # what a page given up looked like, kept for its snapshot

    def plugin(self, name: str) -> Plugin:
        if name not in self._plugins:
            self._plugins[name] = self.registry.create(name, self.settings)
        return self._plugins[name]

    def run(self, job: Job) -> JobResult:
        started = time.monotonic()
        result = JobResult(job, attempts=0)
        page: Page | None = None
        try:
            plugin = self.plugin(job.plugin)
            page = self._load_with_retries(plugin, job.request, result)
            parse_started = time.monotonic()
            collect(plugin, page, result)
            result.timings["parse"] = time.monotonic() - parse_started
        except (PageLoadError, PageRefused, BrowserUnavailable, PluginFailed, ProxyRefused, LoginFailed) as exc:
            result.error = str(exc)
            result.retry_after = getattr(exc, "retry_after", None)
        except Exception as exc:  # a plugin bug fails this page, never the worker
            log.exception("plugin %s failed on %s", job.plugin, job.request.url)
            result.error = f"{job.plugin} failed on {job.request.url}: {type(exc).__name__}: {exc}"
        result.attempts = max(1, result.attempts)
        try:
            result.snapshot = self._snapshot(job, result, page)
        except Exception as exc:  # evidence of a failure must never become a dead worker
            log.warning("no snapshot of %s: %s: %s", job.request.url, type(exc).__name__, exc)
        result.seconds = time.monotonic() - started
        if self.settings.browser.remote_url and self._browser is not None:
            result.browser_session = self._browser.driver.session_id
        return result

    def close(self) -> None:
        if self._browser is not None:
            self._browser.quit()
            self._browser = None
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- loading -------------------------------------------------------------------------------

    def _load_with_retries(self, plugin: Plugin, request: Request, result: JobResult) -> Page:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.pool.retries + 1),
            wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
            # A page that names its Retry-After goes back to the pool, which holds its host that long.
            retry=retry_if_exception_type(PageLoadError) & (lambda state: retry_after_of(state) is None),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result.attempts += 1
                result.timings.clear()
                self._evidence = None
                if _fetch_mode(plugin, request) == "http":
                    return self._load_http(plugin, request, result.timings)
                load = lambda: self._load_in_browser(plugin, request, result.timings)  # noqa: E731
                return self._sessions.load(plugin, request.url, load, lambda: self._browser.driver)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _load_in_browser(self, plugin: Plugin, request: Request, timings: dict[str, float]) -> Page:
        browser = self._ready_browser(plugin, request)
        driver = browser.driver
        reused = self._pages_on_browser > 0
        self._pages_on_browser += 1
        wait_timeout = float(plugin.settings["wait_timeout"])
        try:
            self._sessions.prepare(plugin, driver)
            arrival = navigate(
                driver, request.url, readiness(plugin.wait_for),
                page_load_timeout=self.settings.browser.page_load_timeout, wait_timeout=wait_timeout,
                before_abort=lambda: self._keep_evidence(driver, request.url), take_html=True,
            )
            timings.update(arrival.timings)
            if arrival.status is not None and arrival.status >= 400:
                _raise_proxy_problem(browser, request.url)
            check_status(request.url, arrival.status, lambda: retry_after_s(driver))
            taken = None if arrival.html is None else Page(arrival.url or request.url, arrival.html, request.meta, status=arrival.status, label=request.label)
            if type(plugin).interact is not Plugin.interact and (taken is None or plugin.needs_interaction(taken)):
                taken = None  # the page changes: its HTML is taken again below
                interact_started = time.monotonic()
                tab = Tab(driver, default_timeout=wait_timeout, script_timeout=self.settings.browser.script_timeout)
                try:
                    self._interact(plugin, tab, request)
                finally:
                    if tab.script_timeout_raised:
                        driver.set_script_timeout(WAIT_SLICE_S + 2)
                timings["wait"] = timings.get("wait", 0.0) + time.monotonic() - interact_started
            if taken is not None:
                return taken
            html_started = time.monotonic()
            html, final_url, status = snapshot(driver)
            timings["html"] = time.monotonic() - html_started
        except (NavigationTimeout, NavigationFailed) as exc:
            _raise_proxy_problem(browser, request.url)
            raise PageLoadError(f"{request.url}: {exc}") from None
        except InvalidSessionIdException:
            self._drop_browser()
            if reused:  # a Grid ends a session left idle too long: that costs a new session, not an attempt
                log.info("the browser session had ended (idle on the Grid?); starting a new one")
                return self._load_in_browser(plugin, request, timings)
            raise PageLoadError(f"{request.url}: the browser session ended") from None
        except WebDriverException as exc:
            # The browser may be gone; start a fresh one for the next try.
            self._drop_browser()
            raise PageLoadError(f"{request.url}: browser error: {_first_line(exc)}") from None
        return Page(final_url, html, request.meta, status=status, label=request.label)

    def _interact(self, plugin: Plugin, tab: Tab, request: Request) -> None:
        """Run the plugin's interact hook: its failures are the plugin's, unless the browser died."""
        try:
            plugin.interact(tab, request)
        except InteractionError as exc:
            raise PageLoadError(f"{request.url}: {exc}") from None  # an element late to appear: try again
        except Exception as exc:
            if isinstance(exc, WebDriverException) and not self._browser_alive():
                raise  # the browser died under the plugin: reset and retry
            raise PluginFailed(f"plugin {plugin.name}: interact failed on {request.url}: {type(exc).__name__}: {_first_line(exc)}") from None

    def _load_http(self, plugin: Plugin, request: Request, timings: dict[str, float]) -> Page:
        if self._http is None:
            self._http = HttpFetcher(self.settings)
        try:
            proxy = self._http_proxies.pick(proxies_for(plugin.settings, self.settings.browser, plugin.name), rotation_for(plugin.settings, self.settings.browser))
            response = self._http.get(request.url, user_agent=_user_agent(plugin, self.settings), headers=request.headers, proxy=proxy)
        except HttpFetchError as exc:
            raise PageLoadError(f"{request.url}: {exc}") from None
        timings["navigate"] = response.seconds
        self._evidence = Evidence(response.url, response.text, response.status)
        check_status(request.url, response.status, lambda: parse_retry_after(response.headers.get("retry-after")))
        return Page(response.url, response.text, request.meta, status=response.status, headers=response.headers, label=request.label)

    def _ready_browser(self, plugin: Plugin, request: Request) -> Browser:
        profile = BrowserProfile(
            user_agent=_user_agent(plugin, self.settings),
            blocking=Blocking.for_page(self.settings.browser, plugin.settings, request.url),
            proxies=proxies_for(plugin.settings, self.settings.browser, plugin.name),
        )
        recycle = self._pages_on_browser >= self.settings.browser.max_pages
        # Measuring costs a few ms (it reads every process's memory map): every tenth page is enough.
        if self._browser is not None and not recycle and self._pages_on_browser % 10 == 9:
            used = self._browser.memory_mb()
            if used > self.settings.browser.max_rss_mb:
                log.info("browser uses %.0f MB, above [browser] max_rss_mb; starting a fresh one", used)
                recycle = True
        if self._browser is not None and (recycle or profile != self._browser_profile):
            self._drop_browser()
        if self._browser is None:
            try:
                self._browser = start_browser(self.settings.browser, profile)
            except BrowserUnavailable as exc:
                if self.settings.browser.remote_url:
                    raise PageLoadError(str(exc)) from None  # a full or restarting Grid: worth another try
                raise
            self._browser_profile = profile
            self._pages_on_browser = 0
        return self._browser

    def _drop_browser(self) -> None:
        if self._browser is not None:
            self._browser.quit()
            self._browser = None

    def _browser_alive(self) -> bool:
        try:
            return self._browser is not None and bool(self._browser.driver.window_handles)
        except WebDriverException:
            return False

    # -- snapshots -----------------------------------------------------------------------------

    def _keep_evidence(self, driver: Any, url: str) -> None:
        """Read the tab of a page about to be given up, for its snapshot."""
        if self._snapshots.enabled:
            self._evidence = from_browser(driver, url)

    def _snapshot(self, job: Job, result: JobResult, page: Page | None) -> str | None:
        """The folder of the page's snapshot when it failed for good, gave invalid records, or gave nothing."""
        kept, self._evidence = self._evidence, None  # a screenshot is not held until the next page
        plugin = self._plugins.get(job.plugin)
        expects = plugin is None or plugin.expects_records
        reason = reason_for(result, self.settings.pool.retries, expects, always=self._snapshots.folder is not None)
        if reason is None or not self._snapshots.enabled:
            return None
        in_browser = plugin is not None and _fetch_mode(plugin, job.request) == "browser" and self._browser_alive()
        evidence = evidence_of(job.request.url, page, self._browser.driver if in_browser and self._browser else None, kept)
        folder = self._snapshots.write(job.plugin, evidence, reason)
        return None if folder is None else str(folder)

def _fetch_mode(plugin: Plugin, request: Request) -> str:
    return request.fetch or plugin.fetch


def _user_agent(plugin: Plugin, settings: Settings) -> str:
    return effective_user_agent(plugin.settings, settings.browser)


def _raise_proxy_problem(browser: Browser, url: str) -> None:
    """A page that failed behind the proxy forwarder fails with what it saw (the proxy named, no password)."""
    problem = browser.route.take_problem() if browser.route is not None else None
    if problem is not None:
        raise (ProxyRefused if problem[1] else PageLoadError)(f"{url}: {problem[0]}")


def _first_line(exc: BaseException) -> str:
    text = (getattr(exc, "msg", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


