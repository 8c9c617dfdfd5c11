"""One worker process: keeps one browser, renders pages, runs the plugin's parser.

The worker knows nothing of Kafka: records go back to the pool over a pipe.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Mapping

from selenium.common.exceptions import TimeoutException, WebDriverException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from scrapeline.convert import utc_now_iso
from scrapeline.records import RecordError, ScrapedRecord
from scrapeline.settings import Settings
from scrapers.browser import Browser, BrowserUnavailable, start_browser
from scrapers.jobs import Job, JobResult
from scrapers.plugin import Page, Plugin, Request
from scrapers.politeness import effective_user_agent
from scrapers.registry import Registry, discover
from scrapers.tab import InteractionError, Tab

log = logging.getLogger("scrapeline.worker")


class PageLoadError(RuntimeError):
    """The page did not load or render in time, or answered 429/5xx; worth another try."""


class PageRefused(RuntimeError):
    """The site answered with a status that another try will not change (404, 403...)."""


RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class PageWorker:
    """Renders jobs one at a time in a reused browser, recycled after ``[browser] max_pages``."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else discover(settings.pool.plugin_paths)
        self._plugins: dict[str, Plugin] = {}
        self._browser: Browser | None = None
        self._browser_agent = ""
        self._pages_on_browser = 0

    def plugin(self, name: str) -> Plugin:
        if name not in self._plugins:
            self._plugins[name] = self.registry.create(name, self.settings)
        return self._plugins[name]

    def run(self, job: Job) -> JobResult:
        started = time.monotonic()
        result = JobResult(job)
        try:
            plugin = self.plugin(job.plugin)
            html, final_url, result.attempts = self._render(plugin, job.request)
            self._parse(plugin, Page(final_url, html, job.request.meta), result)
        except (PageLoadError, PageRefused, BrowserUnavailable, InteractionError) as exc:
            result.error = str(exc)
        except Exception as exc:  # a plugin bug fails this page, never the worker
            log.exception("plugin %s failed on %s", job.plugin, job.request.url)
            result.error = f"{job.plugin} failed on {job.request.url}: {type(exc).__name__}: {exc}"
        result.seconds = time.monotonic() - started
        return result

    def close(self) -> None:
        if self._browser is not None:
            self._browser.quit()
            self._browser = None

    def _render(self, plugin: Plugin, request: Request) -> tuple[str, str, int]:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.pool.retries + 1),
            wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
            retry=retry_if_exception_type(PageLoadError),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                html, url = self._load(plugin, request)
        return html, url, attempt.retry_state.attempt_number

    def _load(self, plugin: Plugin, request: Request) -> tuple[str, str]:
        browser = self._ready_browser(effective_user_agent(plugin.settings, self.settings.browser))
        driver = browser.driver
        self._pages_on_browser += 1
        try:
            self._navigate(driver, plugin, request)
            final_url = driver.current_url
            status = document_status(driver, final_url)
            if status in RETRY_STATUSES:
                raise PageLoadError(f"{request.url}: HTTP {status}")
            if status is not None and status >= 400:
                raise PageRefused(f"{request.url}: HTTP {status}")
            tab = Tab(driver, default_timeout=float(plugin.settings["wait_timeout"]))
            if plugin.wait_for:
                tab.wait_for(plugin.wait_for)
            if type(plugin).interact is not Plugin.interact:
                plugin.interact(tab, request)
                final_url = driver.current_url  # the interaction may have moved on to another page
            return driver.page_source, final_url
        except InteractionError as exc:
            raise PageLoadError(f"{request.url}: {exc}") from None
        except TimeoutException:
            raise PageLoadError(f"{request.url}: page load timed out after {self.settings.browser.page_load_timeout:g} s") from None
        except WebDriverException as exc:
            # The browser may be gone; start a fresh one for the next try.
            self.close()
            raise PageLoadError(f"{request.url}: browser error: {(exc.msg or str(exc)).strip().splitlines()[0]}") from None

    def _navigate(self, driver: object, plugin: Plugin, request: Request) -> None:
        """Load the page; past the page-load timeout, keep it if it arrived and shows ``wait_for``."""
        try:
            driver.get(request.url)  # type: ignore[attr-defined]
        except TimeoutException:
            driver.execute_script("window.stop();")  # type: ignore[attr-defined]
            # Without a document response the browser still shows the previous page, which must
            # not be taken for this one. (The log was read after the previous page: only this page's
            # events are in it.)
            arrived = document_status(driver, driver.current_url) is not None  # type: ignore[attr-defined]
            if not (arrived and plugin.wait_for and Tab(driver).count(plugin.wait_for)):  # type: ignore[arg-type]
                raise
            log.info("%s: some resources still loading after the page-load timeout; the page is read as it is", request.url)

    def _ready_browser(self, user_agent: str) -> Browser:
        recycle = self._pages_on_browser >= self.settings.browser.max_pages
        # Measuring costs a few ms (it reads every process's memory map): every tenth page is enough.
        if self._browser is not None and not recycle and self._pages_on_browser % 10 == 9:
            used = self._browser.memory_mb()
            if used > self.settings.browser.max_rss_mb:
                log.info("browser uses %.0f MB, above [browser] max_rss_mb; starting a fresh one", used)
                recycle = True
        if self._browser is not None and (recycle or user_agent != self._browser_agent):
            self.close()
        if self._browser is None:
            self._browser = start_browser(self.settings.browser, user_agent=user_agent)
            self._browser_agent = user_agent
            self._pages_on_browser = 0
        return self._browser

    def _parse(self, plugin: Plugin, page: Page, result: JobResult) -> None:
        scraped_at = utc_now_iso()
        for item in plugin.parse(page):
            if isinstance(item, Request):
                result.follow.append(item)
                continue
            if not isinstance(item, Mapping):
                result.invalid.append((f"parse() yielded a {type(item).__name__}, not a dict or Request", {}))
                continue
            try:
                record = plugin.schema.validate(item)
            except RecordError as exc:
                result.invalid.append((str(exc), dict(item)))
                continue
            url = record.pop("url", None) or page.url
            record.pop("scraped_at", None)
            result.records.append(
                ScrapedRecord(
                    plugin=plugin.name,
                    kind=plugin.kind,
                    id=plugin.schema.record_id(plugin.name, record),
                    url=url,
                    scraped_at=scraped_at,
                    record=record,
                )
            )


def document_status(driver: object, current_url: str) -> int | None:
    """The HTTP status of the page at ``current_url``, from Chromium's performance log (None when unknown)."""
    try:
        entries = driver.get_log("performance")  # type: ignore[attr-defined]
    except Exception:  # not every driver (or Grid node) keeps this log
        return None
    documents: list[tuple[str, int]] = []
    for entry in entries:
        message = json.loads(entry["message"]).get("message", {})
        params = message.get("params", {})
        if message.get("method") == "Network.responseReceived" and params.get("type") == "Document":
            documents.append((params["response"]["url"], int(params["response"]["status"])))
    for url, status in reversed(documents):
        if url == current_url:
            return status
    return documents[0][1] if documents else None


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the pool process dies, however it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the pipe closing still stops the worker


def _kill_own_group(signum: int, frame: object) -> None:
    # The browser's processes share this group: none outlives the worker.
    os.killpg(0, signal.SIGKILL)


def worker_main(settings: Settings, conn: Connection, log_level: int) -> None:
    """Entry point of a worker process: answer jobs until told to stop or the pool goes away."""
    parent = os.getppid()
    os.setpgrp()  # so the pool can kill this worker together with its browser
    _die_with_parent()
    signal.signal(signal.SIGTERM, _kill_own_group)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    if os.getppid() != parent:
        return  # the pool died before the death signal was armed
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    worker = PageWorker(settings)
    try:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                break  # the pool process is gone
            if job is None:
                break
            conn.send(worker.run(job))
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
