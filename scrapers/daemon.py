"""The long-running scrape pool: each enabled plugin on its schedule, until SIGTERM or SIGINT.

First signal: stop scheduling, drop pages not yet handed out, give pages in
flight ``[pool] shutdown_timeout`` seconds, quit the browsers. A second signal
kills the workers and their browsers at once.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Callable, Sequence

from scrapeline.metrics_server import MetricsServer, start_metrics_server
from scrapeline.settings import Settings
from scrapers.metrics import DaemonMetrics
from scrapers.pool import ScrapePool
from scrapers.quality import RoundChecks, RoundStore
from scrapers.scheduler import Schedule

log = logging.getLogger("scrapeline.daemon")


class ForcedExit(Exception):
    """A second stop signal arrived."""


class ScrapeDaemon:
    def __init__(
        self,
        settings: Settings,
        pool: ScrapePool,
        plugin_names: Sequence[str],
        *,
        spool_bytes: Callable[[], int] = lambda: 0,
        spool_problem: Callable[[], str | None] = lambda: None,
        max_rounds: int | None = None,
        round_store: RoundStore | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.schedules = {
            name: Schedule.parse(pool.registry.create(name, settings).settings["interval"], f"[plugin:{name}] interval")
            for name in plugin_names
        }
        self.spool_bytes = spool_bytes
        self.spool_problem = spool_problem
        self.max_rounds = max_rounds
        self.metrics = DaemonMetrics()
        # [alerts]: each finished round checked and kept in round_store, plugins that stop completing rounds.
        self.checks = RoundChecks(settings, round_store, metrics=self.metrics, schedules=self.schedules)
        self.rounds_done = dict.fromkeys(plugin_names, 0)
        self._stopping = False
        self._last_log = (time.monotonic(), 0, 0)

    def run(self) -> int:
        """Run until stopped; 0 after a clean stop, 1 after a forced one."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        server = self._start_metrics()
        previous_on_result = self.pool.on_result
        self.pool.on_result = lambda current, result: self.metrics.count(result)
        try:
            self._loop()
            self._shutdown()
            return 0
        except ForcedExit:
            log.warning("second stop signal: killing the workers and their browsers now")
            self.pool.kill()
            return 1
        finally:
            self.pool.on_result = previous_on_result
            self.checks.close(timeout=self.settings.pool.shutdown_timeout)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if server is not None:
                server.stop()

    def stop(self) -> None:
        self._stopping = True

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stopping:
            raise ForcedExit()
        log.info("%s received: finishing the pages in flight, then stopping", signal.Signals(signum).name)
        self._stopping = True

    def _loop(self) -> None:
        due = dict.fromkeys(self.schedules, time.time())
        for name, schedule in self.schedules.items():
            log.info("plugin %s scheduled %s", name, schedule)
        while not self._stopping:
            now = time.time()
            for name, schedule in self.schedules.items():
                if now >= due[name] and not self.pool.is_running(name) and not self._enough(name):
                    try:
                        self.pool.begin_round(name)
                    except Exception as exc:  # a plugin that cannot start is reported and retried next time
                        log.error("plugin %s cannot start a round: %s", name, exc)
                    due[name] = schedule.next_after(now)
            for finished in self.pool.step(timeout=0.5):
                self.rounds_done[finished.name] += 1
                self.metrics.rounds.labels(finished.name).inc()
                s = finished.stats
                log.info(
                    "round %d of %s done: %d pages, %d records, %d errors in %.1f s",
                    self.rounds_done[finished.name], finished.name, s.pages, s.records, s.errors, s.seconds,
                )  # fmt: skip
                self.checks.round_done(finished.name, finished.plugin.kind, list(finished.plugin.schema.fields), s)
            self._tick()
            if self.max_rounds is not None and all(self._enough(n) for n in self.schedules) and self.pool.idle:
                break

    def _enough(self, name: str) -> bool:
        return self.max_rounds is not None and self.rounds_done[name] >= self.max_rounds

    def _shutdown(self) -> None:
        dropped = self.pool.drop_pending()
        if dropped:
            log.info("%d pages not started are left for the next run", dropped)
        deadline = time.monotonic() + self.settings.pool.shutdown_timeout
        while self.pool.in_flight and time.monotonic() < deadline:
            self.pool.step(timeout=0.5)
        if self.pool.in_flight:
            log.warning("%d pages still loading after [pool] shutdown_timeout; stopping them", self.pool.in_flight)
        self.pool.close(timeout=max(1.0, deadline - time.monotonic()))

    def _tick(self) -> None:
        now = time.monotonic()
        self.metrics.last_tick = now
        self.checks.check_stale(time.time(), finished=[name for name in self.schedules if self._enough(name)])
        self.metrics.workers_alive.set(self.pool.workers_alive)
        self.metrics.pages_in_flight.set(self.pool.in_flight)
        self.metrics.spool_bytes.set(self.spool_bytes())
        since, pages_before, records_before = self._last_log
        if now - since >= self.settings.pool.log_interval:
            totals = self.pool.totals
            minutes = (now - since) / 60
            log.info(
                "Crawled %d pages (at %.0f pages/min), published %d records (at %.0f records/min), "
                "%d failed pages, %d retries, %d bytes spooled",
                totals.pages, (totals.pages - pages_before) / minutes, totals.records,
                (totals.records - records_before) / minutes, totals.errors, totals.retries, self.spool_bytes(),
            )  # fmt: skip
            self._last_log = (now, totals.pages, totals.records)

    def _start_metrics(self) -> MetricsServer | None:
        return start_metrics_server(self.settings.metrics.host, self.settings.metrics.port, self.metrics.registry, self._health)

    def _health(self) -> dict:
        age = time.monotonic() - self.metrics.last_tick
        alive = self.pool.workers_alive
        spool = self.spool_problem()
        return {
            "ok": alive > 0 and age < 30 and not self._stopping and spool is None,
            "workers_alive": alive, "seconds_since_tick": round(age, 1), "stopping": self._stopping, "spool": spool or "ok",
        }  # fmt: skip
