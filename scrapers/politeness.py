"""How hard the pool may press on a site: robots.txt, rate limits and concurrency per host.

The parent applies these when it hands out pages, so they hold across all workers.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections import deque
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
        self._next_slot: dict[tuple[str, str], float] = {}
        self._loading: dict[str, int] = {}

    def allowed(self, plugin: Plugin, url: str) -> bool:
        """Whether robots.txt lets ``plugin`` (with its User-Agent) load ``url``."""
        if not plugin.settings["obey_robots"]:
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return True
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = _fetch_robots(origin, plugin.settings["user_agent"] or DEFAULT_AGENT)
        rules = self._robots[origin]
        return rules is None or rules.can_fetch(plugin.settings["user_agent"] or DEFAULT_AGENT, url)

    def take_next(self, pending: deque[JobT], plugin_of: Callable[[JobT], Plugin]) -> JobT | None:
        """The first pending job that every limit lets start now, removed from ``pending``."""
        now = time.monotonic()
        per_domain = self.settings.pool.domain_requests_per_minute
        for position, job in enumerate(pending):
            plugin = plugin_of(job)
            request = job.request  # type: ignore[attr-defined]
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
            del pending[position]
            return job
        return None

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
