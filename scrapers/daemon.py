"""The long-running scrape pool: each enabled plugin on its schedule, until SIGTERM or SIGINT.

First signal: stop scheduling, drop pages not yet handed out, give pages in
flight ``[pool] shutdown_timeout`` seconds, quit the browsers. A second signal
kills the workers and their browsers at once.

With a shared :class:`~scrapers.frontier.Frontier` the daemon is one of a cluster:
it asks for each round when its slot comes (the frontier starts it once for the
whole cluster), loads the pages the frontier hands it, and puts the links it finds
back there. A round is done, for this daemon, when it has no page of it left and
the frontier has nothing more of its plugin for it.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Callable, Sequence

from prometheus_client import Gauge

from scrapeline.metrics_server import MetricsServer, start_metrics_server
from scrapeline.settings import Settings
from scrapers.frontier import Frontier, FrontierEntry, FrontierJob
from scrapers.jobs import JobResult
from scrapers.metrics import DaemonMetrics
from scrapers.plugin import Request
from scrapers.pool import Round, ScrapePool
from scrapers.quality import RoundChecks, RoundStore
from scrapers.scheduler import Schedule, round_key

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
        frontier: Frontier | None = None,
        round_store: RoundStore | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.frontier = frontier
        # This daemon's part of the shared rounds it holds pages of, by round key.
        self._shared: dict[str, Round] = {}
        self._keys: dict[int, str] = {}
        self.schedules = {
            name: Schedule.parse(pool.registry.create(name, settings).settings["interval"], f"[plugin:{name}] interval")
            for name in plugin_names
        }
        self.spool_bytes = spool_bytes
        self._held: Gauge | None = None
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
        self.pool.on_result = self._on_result
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
                    if self.frontier is not None:
                        slot = schedule.slot(now)
                        self._ask_round(name, round_key(name, slot))
                        due[name] = schedule.next_after(slot)
                        continue
                    try:
                        self.pool.begin_round(name)
                    except Exception as exc:  # a plugin that cannot start is reported and retried next time
                        log.error("plugin %s cannot start a round: %s", name, exc)
                    due[name] = schedule.next_after(now)
            step = 0.5
            if self.frontier is not None:
                self._exchange()
                # A worker without a page waits for the frontier: come back to it soon.
                step = 0.5 if self.pool.in_flight >= self.settings.pool.workers else 0.02
            ended = self.pool.step(timeout=step)
            for finished in ended if self.frontier is None else self._shared_rounds_ended():
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
        if self.frontier is not None:
            self.frontier.sync(now=True)
        deadline = time.monotonic() + self.settings.pool.shutdown_timeout
        while self.pool.in_flight and time.monotonic() < deadline:
            self.pool.step(timeout=0.5)
        if self.pool.in_flight:
            log.warning("%d pages still loading after [pool] shutdown_timeout; stopping them", self.pool.in_flight)
        if self.frontier is not None:
            self.frontier.sync(now=True)  # the pages finished while stopping are not loaded again
        self.pool.close(timeout=max(1.0, deadline - time.monotonic()))

    # -- with a shared frontier ----------------------------------------------------------------

    def _ask_round(self, name: str, key: str) -> None:
        assert self.frontier is not None
        try:
            max_pages = int(self.pool.registry.create(name, self.settings).settings["max_pages"])
            self.frontier.start_round(name, key, max_pages)
            log.info("round %s is due", key)
        except Exception as exc:  # a plugin that cannot start (or a frontier that cannot take it) is retried next time
            log.error("plugin %s cannot start round %s: %s", name, key, exc)

    def _exchange(self) -> None:
        """Take entries from the frontier while the queue has room, give up those another daemon now holds, commit."""
        assert self.frontier is not None
        queued = sum(current.outstanding for current in self._shared.values())
        room = max(16, 4 * self.settings.pool.workers) - queued
        for entry in self.frontier.poll(timeout=0.0 if self.pool.in_flight else 0.2, max_entries=room):
            try:
                if entry.url is None:
                    self._start_shared(entry)
                else:
                    current = self._shared.get(entry.round) or self._open_shared(entry)
                    job = FrontierJob(entry.plugin, Request(entry.url, dict(entry.meta)), round_id=current.id, ticket=entry.ticket)
                    self.pool.submit(current, job)
            except Exception as exc:  # a plugin that cannot load its round: the entry is dropped, not retried forever
                log.error("round %s of plugin %s: %s", entry.round, entry.plugin, exc)
                self.frontier.done(entry.ticket)
        released = self.frontier.released()
        if released:
            dropped = self.pool.drop_pending(lambda job: getattr(job, "ticket", None) in released)
            log.info("%d queued pages now belong to another daemon", dropped)
        self.frontier.sync()

    def _start_shared(self, entry: FrontierEntry) -> None:
        assert self.frontier is not None
        plugin = self.pool.registry.create(entry.plugin, self.settings)
        requests = [(request.url, request.meta) for request in plugin.start_requests()]
        self.frontier.put(entry.plugin, entry.round, int(plugin.settings["max_pages"]), requests)
        self.frontier.done(entry.ticket)
        log.info("round %s started: %d start pages", entry.round, len(requests))

    def _open_shared(self, entry: FrontierEntry) -> Round:
        current = self.pool.open_round(entry.plugin)
        self._shared[entry.round] = current
        self._keys[current.id] = entry.round
        return current

    def _on_result(self, current: Round, result: JobResult) -> None:
        """Called once a page's records are in the spool: its links go back to the frontier, then it is done."""
        self.metrics.count(result)
        ticket = getattr(result.job, "ticket", None)
        if self.frontier is None or ticket is None:
            return
        key = self._keys.get(current.id)
        if key is not None and result.follow:
            max_pages = int(current.plugin.settings["max_pages"])
            self.frontier.put(current.name, key, max_pages, ((request.url, request.meta) for request in result.follow))
        self.frontier.done(ticket)

    def _show_assignment(self, frontier: Frontier) -> None:
        """``scrapeline_frontier_partition{plugin, partition} 1`` for each partition held (for brokers whose
        group description leaves the assignment out)."""
        if self._held is None:
            self._held = Gauge("scrapeline_frontier_partition", "Frontier partitions this daemon holds", ["plugin", "partition"], registry=self.metrics.registry)
        self._held.clear()
        for plugin, partitions in frontier.assignment().items():
            for partition in partitions:
                self._held.labels(plugin, str(partition)).set(1)

    def _shared_rounds_ended(self) -> list[Round]:
        assert self.frontier is not None
        quiet = [(key, current) for key, current in self._shared.items() if current.outstanding == 0]
        ended = []
        for key, current in quiet:
            if self.frontier.caught_up(current.name):
                current.stats.seconds = time.monotonic() - current.started
                del self._shared[key]
                self._keys.pop(current.id, None)
                ended.append(current)
        return ended

    def _tick(self) -> None:
        now = time.monotonic()
        self.metrics.last_tick = now
        self.checks.check_stale(time.time(), finished=[name for name in self.schedules if self._enough(name)])
        self.metrics.workers_alive.set(self.pool.workers_alive)
        self.metrics.pages_in_flight.set(self.pool.in_flight)
        self.metrics.spool_bytes.set(self.spool_bytes())
        if self.frontier is not None:
            self._show_assignment(self.frontier)
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
