"""How hard the pool may press on a site: robots.txt, rate limits and concurrency per host.

The parent applies these when it hands out pages, so they hold across all workers.
robots.txt files are fetched in the background: while one site's is loading (up to
10 s for a slow site), pages of other sites are handed out. They are parsed by Protego
(Scrapy's parser: wildcards, ``$``, longest match), checked with the same User-Agent the
pages load with (:func:`effective_user_agent`), through the plugin's proxy when it has one, and
fetched again after ``[pool] robots_ttl``.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

import httpx
from protego import Protego

from scrapeline.settings import BrowserSettings, Settings
from scrapers.plugin import Plugin
from scrapers.proxies import ROTATION, Proxy, proxies_for

log = logging.getLogger("scrapeline.politeness")
# Pages load and robots.txt is read with this when neither the plugin nor [browser] sets one:
# Chromium's own, plus a product token that robots.txt rules for "scrapeline" match.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 scrapeline/0.1"
)
# `user_agent = realistic`: what a current desktop Chrome on Linux sends (the platform matches the
# browser's navigator.platform), without "Headless" and without our token. Move the major version
# along with Chrome's releases.
REALISTIC = "realistic"
REALISTIC_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
JobT = TypeVar("JobT")


def effective_user_agent(plugin_settings: Mapping[str, Any], browser_settings: BrowserSettings) -> str:
    """The one User-Agent of a plugin's pages and robots.txt checks: ``[plugin:NAME] user_agent``,
    else ``[browser] user_agent``, else :data:`DEFAULT_USER_AGENT`; ``realistic`` is :data:`REALISTIC_USER_AGENT`."""
    agent = str(plugin_settings.get("user_agent") or browser_settings.user_agent or DEFAULT_USER_AGENT)
    return REALISTIC_USER_AGENT if agent.strip().lower() == REALISTIC else agent


class Politeness:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # origin -> (rules or None for "everything allowed", monotonic time they go stale)
        self._robots: dict[str, tuple[Protego | None, float]] = {}
        self._fetching: dict[str, Future[Protego | None]] = {}
        self._fetcher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="robots")
        self._next_slot: dict[tuple[str, str], float] = {}
        self._loading: dict[str, int] = {}
        self._disallowed: list = []
        # Hosts that asked us to come back later (Retry-After): host -> monotonic time.
        self._held_until: dict[str, float] = {}

    def allowed(self, plugin: Plugin, url: str) -> bool:
        """Whether robots.txt lets ``plugin`` (with its User-Agent) load ``url``; waits for the file if needed."""
        origin = self._robots_origin(plugin, url)
        if origin is None:
            return True
        if not self.robots_known(plugin, url):
            self._store(origin, self._fetch(origin, plugin).result())
        return self._can_fetch(origin, plugin, url)

    def robots_known(self, plugin: Plugin, url: str) -> bool:
        """Whether ``url``'s robots.txt is in (or not needed); starts fetching it in the background if
        not, or again once stale (the stale rules serve until the new ones are in)."""
        origin = self._robots_origin(plugin, url)
        if origin is None:
            return True
        cached = self._robots.get(origin)
        if cached is not None and time.monotonic() < cached[1]:
            return True
        future = self._fetch(origin, plugin)
        if future.done():
            self._store(origin, future.result())
            return True
        return cached is not None

    def take_next(self, pending: deque[JobT], plugin_of: Callable[[JobT], Plugin]) -> JobT | None:
        """The first pending job that robots.txt and every limit let start now, removed from ``pending``.

        Jobs whose site's robots.txt is still loading wait; jobs it disallows are removed and kept
        for :meth:`pop_disallowed`.
        """
        now = time.monotonic()
        per_domain = self.settings.pool.domain_requests_per_minute
        position = 0
        while position < len(pending):
            job = pending[position]
            plugin = plugin_of(job)
            request = job.request  # type: ignore[attr-defined]
            position += 1
            if not self.robots_known(plugin, request.url):
                continue
            if not self.allowed(plugin, request.url):
                del pending[position - 1]
                position -= 1
                self._disallowed.append(job)
                continue
            host = urlsplit(request.url).netloc
            bucket, per_minute = plugin.rate_limit(request)
            slots = [((plugin.name, bucket), per_minute), (("host", host), per_domain)]
            if self._loading.get(host, 0) >= max(1, self.settings.pool.domain_concurrency):
                continue
            if now < self._held_until.get(host, 0.0):
                continue
            if any(rate > 0 and now < self._next_slot.get(key, 0.0) for key, rate in slots):
                continue
            for key, rate in slots:
                if rate > 0:
                    self._next_slot[key] = now + 60.0 / rate
            self._loading[host] = self._loading.get(host, 0) + 1
            del pending[position - 1]
            return job
        return None

    def hold(self, url: str, seconds: float) -> None:
        """Hand out no page of ``url``'s host for ``seconds`` (its Retry-After); other hosts go on."""
        host = urlsplit(url).netloc
        self._held_until[host] = max(self._held_until.get(host, 0.0), time.monotonic() + seconds)

    def pop_disallowed(self) -> list:
        """The jobs :meth:`take_next` found disallowed by robots.txt since the last call."""
        found, self._disallowed = self._disallowed, []
        return found

    def close(self) -> None:
        self._fetcher.shutdown(wait=False, cancel_futures=True)

    def _robots_origin(self, plugin: Plugin, url: str) -> str | None:
        """The origin whose robots.txt applies, or None when none does."""
        if not plugin.settings["obey_robots"]:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None
        return f"{parts.scheme}://{parts.netloc}"

    def _fetch(self, origin: str, plugin: Plugin) -> Future[Protego | None]:
        if origin not in self._fetching:
            proxies = proxies_for(plugin.settings, self.settings.browser, plugin.name)
            proxy = ROTATION.next(proxies) if proxies else None  # robots.txt goes where the pages go
            self._fetching[origin] = self._fetcher.submit(_fetch_robots, origin, self._agent(plugin), proxy)
        return self._fetching[origin]

    def _store(self, origin: str, rules: Protego | None) -> None:
        self._robots[origin] = (rules, time.monotonic() + self.settings.pool.robots_ttl)
        self._fetching.pop(origin, None)

    def _can_fetch(self, origin: str, plugin: Plugin, url: str) -> bool:
        rules = self._robots[origin][0]
        return rules is None or rules.can_fetch(url, self._agent(plugin))

    def _agent(self, plugin: Plugin) -> str:
        return effective_user_agent(plugin.settings, self.settings.browser)

    def release(self, url: str) -> None:
        """A page of ``url``'s host finished loading."""
        host = urlsplit(url).netloc
        self._loading[host] = max(0, self._loading.get(host, 0) - 1)


def _fetch_robots(origin: str, agent: str, proxy: Proxy | None = None) -> Protego | None:
    """The site's rules, or None (everything allowed) when it has no robots.txt or it cannot be read."""
    url = f"{origin}/robots.txt"
    if proxy is not None:
        return _fetch_robots_through(proxy, origin, agent)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": agent}), timeout=10) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 410):
            log.warning("robots.txt of %s answered %d; treating every page as allowed", origin, exc.code)
        return None
    except (OSError, ValueError) as exc:
        log.warning("robots.txt of %s could not be read (%s); treating every page as allowed", origin, exc)
        return None
    return Protego.parse(text)


def _fetch_robots_through(proxy: Proxy, origin: str, agent: str) -> Protego | None:
    """robots.txt through the plugin's proxy (http or socks5), so the site sees one identity."""
    try:
        response = httpx.get(f"{origin}/robots.txt", headers={"User-Agent": agent}, proxy=proxy.url(), timeout=10, follow_redirects=True)
    except httpx.HTTPError as exc:
        log.warning("robots.txt of %s could not be read through proxy %s (%s); treating every page as allowed",
                    origin, proxy.redacted(), proxy.redact(str(exc)) or type(exc).__name__)
        return None
    if response.status_code >= 400:
        if response.status_code not in (404, 410):
            log.warning("robots.txt of %s answered %d through proxy %s; treating every page as allowed", origin, response.status_code, proxy.redacted())
        return None
    return Protego.parse(response.text)
