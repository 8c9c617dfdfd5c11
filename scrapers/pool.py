"""A pool of worker processes, each with its own browser, fed page jobs by the parent.

The parent keeps one pipe per worker, so it always knows which job a worker
holds: a worker that dies or hangs is replaced and its job handed out again
(up to ``[pool] retries`` more times) instead of stalling the pool. Rounds of
several plugins share the workers; each round ends when its last page is done.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterable

from w3lib.url import canonicalize_url

from scrapeline.records import ScrapedRecord
from scrapeline.settings import Settings
from scrapers.browser import end_remote_session
from scrapers.jobs import FailedPage, Job, JobResult
from scrapers.plugin import Plugin
from scrapers.politeness import Politeness
from scrapers.profiles import remove_orphaned_profiles
from scrapers.quality import count_fields
from scrapers.registry import Registry, discover
from scrapers.stats import PluginStats, RoundReport
from scrapers.worker_process import worker_main

log = logging.getLogger("scrapeline.pool")

RecordSink = Callable[[ScrapedRecord], None]
FailureSink = Callable[[FailedPage], None]
# Spawned, not forked: the parent runs Kafka client threads, and a fork would copy their locks.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class _WorkerHandle:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    job: Job | None = None
    since: float = 0.0
    # Its browser's Selenium Grid session, ended by the pool if the worker must be killed.
    session: str | None = None


@dataclass
class Round:
    """One plugin's pass over its pages."""

    id: int
    plugin: Plugin
    stats: PluginStats = field(default_factory=PluginStats)
    started: float = field(default_factory=time.monotonic)
    seen: set[str] = field(default_factory=set)
    budget: int = 0
    outstanding: int = 0
    # False for a round fed by a shared frontier: its links go back there (the daemon's on_result), not to this pool.
    follow_here: bool = True

    @property
    def name(self) -> str:
        return self.plugin.name


class ScrapePool:
    """Run scrape rounds on ``[pool] workers`` processes; records go to ``sink`` as they arrive,
    pages that fail for good to ``on_failure``."""

    def __init__(
        self,
        settings: Settings,
        sink: RecordSink,
        *,
        registry: Registry | None = None,
        on_failure: FailureSink | None = None,
        on_result: Callable[[Round, JobResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.on_failure = on_failure
        self.on_result = on_result
        self.registry = registry if registry is not None else discover(settings.pool.plugin_paths)
        self.politeness = Politeness(settings)
        remove_orphaned_profiles()  # of browsers an earlier run lost to a SIGKILL
        self.totals = PluginStats()
        self._workers: list[_WorkerHandle] = []
        self._pending: deque[Job] = deque()
        self._rounds: dict[int, Round] = {}
        self._round_ids = itertools.count(1)

    def __enter__(self) -> "ScrapePool":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        while len(self._workers) < max(1, self.settings.pool.workers):
            self._workers.append(self._spawn())

    def close(self, timeout: float = 10.0) -> None:
        """Ask every worker to quit its browser and exit; kill (with its browser) any that does not."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            _kill_group(worker.process)
            worker.process.join()
            worker.conn.close()
        self._workers.clear()
        self.politeness.close()

    def kill(self) -> None:
        """Stop at once: every worker and its browser are killed."""
        for worker in self._workers:
            _kill_group(worker.process)
            worker.process.join(5)
            worker.conn.close()
            end_remote_session(self.settings.browser.remote_url, worker.session)
        self._workers.clear()
        self.politeness.close()

    @property
    def workers_alive(self) -> int:
        return sum(1 for w in self._workers if w.process.is_alive())

    # -- rounds --------------------------------------------------------------------------------

    def begin_round(self, name: str) -> Round:
        """Queue the start pages of plugin ``name``; raises when the plugin cannot start."""
        plugin = self.registry.create(name, self.settings)
        requests = list(plugin.start_requests())
        current = Round(next(self._round_ids), plugin, budget=int(plugin.settings["max_pages"]))
        self._rounds[current.id] = current
        for request in requests:
            self._enqueue(current, Job(name, request, round_id=current.id))
        if current.outstanding == 0:
            del self._rounds[current.id]
        return current

    def open_round(self, name: str) -> Round:
        """A round of plugin ``name`` whose pages come from a shared frontier through :meth:`submit`."""
        current = Round(next(self._round_ids), self.registry.create(name, self.settings), follow_here=False)
        self._rounds[current.id] = current
        return current

    def submit(self, current: Round, job: Job) -> None:
        """Queue ``job`` as it is: the frontier already dropped duplicates and kept to max_pages."""
        self._rounds[current.id] = current  # a round may get pages again after it looked finished
        current.outstanding += 1
        self._pending.append(job)

    def is_running(self, name: str) -> bool:
        return any(r.name == name for r in self._rounds.values())

    @property
    def idle(self) -> bool:
        return not self._rounds

    def step(self, timeout: float = 1.0) -> list[Round]:
        """Hand out pages, wait up to ``timeout`` for results, account for them; the rounds that ended."""
        self.start()
        self._dispatch()
        if not any(w.job for w in self._workers):
            time.sleep(min(timeout, 0.05))  # pending pages wait for a rate limit, or nothing to do
        else:
            for result in self._collect(timeout):
                self._account(result)
        finished = [r for r in self._rounds.values() if r.outstanding == 0]
        for done in finished:
            done.stats.seconds = time.monotonic() - done.started
            del self._rounds[done.id]
        return finished

    def drop_pending(self, where: Callable[[Job], bool] | None = None) -> int:
        """Forget the pages not handed out yet (all of them, or those ``where`` picks); returns how many."""
        kept = [job for job in self._pending if where is not None and not where(job)]
        dropped = len(self._pending) - len(kept)
        for job in self._pending:
            if where is None or where(job):
                self._rounds[job.round_id].outstanding -= 1
        self._pending.clear()
        self._pending.extend(kept)
        return dropped

    @property
    def in_flight(self) -> int:
        return sum(1 for w in self._workers if w.job is not None)

    def run_round(self, plugin_names: Iterable[str]) -> RoundReport:
        """Visit every start page of the named plugins and the links they follow; return the counts."""
        report = RoundReport()
        for name in plugin_names:
            try:
                current = self.begin_round(name)
            except Exception as exc:  # one plugin's bad setup must not stop the others
                report.problems.append(f"{name}: {exc}")
                log.error("plugin %s cannot start: %s", name, exc)
                continue
            report.plugins[name] = current.stats
        while not self.idle:
            self.step()
        return report

    # -- internals -----------------------------------------------------------------------------

    def _enqueue(self, current: Round, job: Job) -> None:
        url = canonicalize_url(job.request.url)  # one page however its link is written (query order, fragment)
        if url in current.seen or current.budget <= 0:
            return
        current.seen.add(url)
        current.budget -= 1
        current.outstanding += 1
        self._pending.append(job)

    def _dispatch(self) -> None:
        for index, worker in enumerate(self._workers):
            if not self._pending:
                return
            if worker.job is not None:
                continue
            job = self.politeness.take_next(self._pending, lambda j: self._rounds[j.round_id].plugin)
            self._skip_disallowed()
            if job is None:
                return
            if not worker.process.is_alive():
                worker = self._replace(index)
            try:
                worker.conn.send(job)
            except (OSError, BrokenPipeError):
                self._pending.appendleft(job)
                self.politeness.release(job.request.url)
                self._replace(index)
                continue
            worker.job, worker.since = job, time.monotonic()

    def _skip_disallowed(self) -> None:
        for job in self.politeness.pop_disallowed():
            current = self._rounds[job.round_id]
            current.stats.skipped += 1
            current.outstanding -= 1
            current.budget += 1  # a page never loaded does not count against max_pages
            log.info("%s: %s is disallowed by robots.txt; skipped", current.name, job.request.url)

    def _collect(self, timeout: float) -> list[JobResult]:
        busy = [w for w in self._workers if w.job is not None]
        waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waitables, timeout=timeout))
        results: list[JobResult] = []
        now = time.monotonic()
        for worker in busy:
            job = worker.job
            assert job is not None
            if worker.conn in ready:
                try:
                    results.append(worker.conn.recv())
                    worker.session = results[-1].browser_session or worker.session
                    worker.job = None
                    self.politeness.release(job.request.url)
                    continue
                except (EOFError, OSError):
                    pass  # died while answering: handled as a dead worker below
            died = worker.process.sentinel in ready or not worker.process.is_alive()
            hung = now - worker.since > self.settings.pool.job_timeout
            if not (died or hung):
                continue
            reason = "worker process died" if died else f"no answer within [pool] job_timeout {self.settings.pool.job_timeout:g} s"
            log.warning("%s on %s (%s); replacing the worker", reason, job.request.url, job.plugin)
            worker.job = None
            self.politeness.release(job.request.url)
            self._replace(self._workers.index(worker))
            if job.dispatches <= self.settings.pool.retries:
                self._rounds[job.round_id].stats.retries += 1
                self.totals.retries += 1
                self._pending.appendleft(job.again())
            else:
                results.append(JobResult(job, error=f"{job.request.url}: {reason} after {job.dispatches} tries", attempts=job.dispatches))
        return results

    def _account(self, result: JobResult) -> None:
        current = self._rounds[result.job.round_id]
        if self._retry_later(current, result):
            return
        current.outstanding -= 1
        for stats in (current.stats, self.totals):
            stats.pages += 1
            stats.retries += result.attempts - 1
            stats.records += len(result.records)
            stats.invalid_records += len(result.invalid)
            stats.errors += 1 if result.error else 0
        count_fields(current.stats, result.records, result.invalid)
        result.attempts += result.job.earlier_attempts  # the failed-page count covers every dispatch
        for reason, record in result.invalid:
            log.error("%s: invalid record from %s: %s %s", result.job.plugin, result.job.request.url, reason, record)
        if result.error:
            log.error("%s: %s%s", result.job.plugin, result.error, f" (snapshot in {result.snapshot})" if result.snapshot else "")
            if self.on_failure is not None:
                self.on_failure(FailedPage(result.job.plugin, result.job.request.url, result.attempts, result.error, result.snapshot))
        publish_started = time.monotonic()
        for record in result.records:
            self.sink(record)
        result.timings["publish"] = time.monotonic() - publish_started
        for request in result.follow if current.follow_here else ():
            self._enqueue(current, Job(result.job.plugin, request, round_id=current.id))
        if self.on_result is not None:
            self.on_result(current, result)

    def _retry_later(self, current: Round, result: JobResult) -> bool:
        """A page that named its Retry-After goes back in the queue and its host is held that long."""
        job = result.job
        if not result.sent_back(self.settings.pool.retries):
            return False
        wait = min(result.retry_after, self.settings.pool.max_retry_after)
        self.politeness.hold(job.request.url, wait)
        self._pending.append(job.again(result.attempts))
        for stats in (current.stats, self.totals):
            stats.retries += result.attempts
        log.info("%s: %s; its host is held %.0f s, other hosts go on", job.plugin, result.error, wait)
        return True

    def _spawn(self) -> _WorkerHandle:
        parent_conn, child_conn = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=worker_main,
            args=(self.settings, child_conn, logging.getLogger().getEffectiveLevel()),
            name="scrapeline-worker",
            daemon=True,
        )
        process.start()
        child_conn.close()
        return _WorkerHandle(process, parent_conn)

    def _replace(self, index: int) -> _WorkerHandle:
        old = self._workers[index]
        _kill_group(old.process)
        old.process.join(5)
        old.conn.close()
        end_remote_session(self.settings.browser.remote_url, old.session)
        self._workers[index] = self._spawn()
        return self._workers[index]


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    """Kill a worker with its ChromeDriver and Chromium (each worker leads its own process group)."""
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
