"""How hard the pool may press on a site: robots.txt, rate limits and concurrency per host.

The parent applies these when it hands out pages, so they hold across all workers.
robots.txt files are fetched in the background: while one site's is loading (up to
10 s for a slow site), pages of other sites are handed out.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from scrapeline.settings import Settings
from scrapers.plugin import Plugin

log = logging.getLogger("scrapeline.politeness")
DEFAULT_AGENT = "scrapeline"
JobT = TypeVar("JobT")


class Politeness:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._robots: dict[str, RobotFileParser | None] = {}
        self._fetching: dict[str, Future[RobotFileParser | None]] = {}
        self._fetcher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="robots")
        self._next_slot: dict[tuple[str, str], float] = {}
        self._loading: dict[str, int] = {}
        self._disallowed: list = []

    def allowed(self, plugin: Plugin, url: str) -> bool:
        """Whether robots.txt lets ``plugin`` (with its User-Agent) load ``url``; waits for the file if needed."""
        origin = self._robots_origin(plugin, url)
        if origin is None:
            return True
        if origin not in self._robots:
            self._robots[origin] = self._fetch(origin, plugin).result()
            del self._fetching[origin]
        return self._can_fetch(origin, plugin, url)

    def robots_known(self, plugin: Plugin, url: str) -> bool:
        """Whether ``url``'s robots.txt is in (or not needed); starts fetching it in the background if not."""
        origin = self._robots_origin(plugin, url)
        if origin is None or origin in self._robots:
            return True
        future = self._fetch(origin, plugin)
        if not future.done():
            return False
        self._robots[origin] = future.result()
        del self._fetching[origin]
        return True

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
            if any(rate > 0 and now < self._next_slot.get(key, 0.0) for key, rate in slots):
                continue
            for key, rate in slots:
                if rate > 0:
                    self._next_slot[key] = now + 60.0 / rate
            self._loading[host] = self._loading.get(host, 0) + 1
            del pending[position - 1]
            return job
        return None

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

    def _fetch(self, origin: str, plugin: Plugin) -> Future[RobotFileParser | None]:
        if origin not in self._fetching:
            self._fetching[origin] = self._fetcher.submit(_fetch_robots, origin, plugin.settings["user_agent"] or DEFAULT_AGENT)
        return self._fetching[origin]

    def _can_fetch(self, origin: str, plugin: Plugin, url: str) -> bool:
        rules = self._robots[origin]
        return rules is None or rules.can_fetch(plugin.settings["user_agent"] or DEFAULT_AGENT, url)

    def release(self, url: str) -> None:
        """A page of ``url``'s host finished loading."""
        host = urlsplit(url).netloc
        self._loading[host] = max(0, self._loading.get(host, 0) - 1)


def _fetch_robots(origin: str, agent: str) -> RobotFileParser | None:
    """The site's rules, or None (everything allowed) when it has no robots.txt or it cannot be read."""
    url = f"{origin}/robots.txt"
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
    rules = RobotFileParser(url)
    rules.parse(text.splitlines())
    return rules
