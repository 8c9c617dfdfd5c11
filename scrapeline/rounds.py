"""One scrape round wired end to end: registry -> worker pool -> Kafka publisher."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable, Sequence

from pipeline.frontier import KafkaFrontier
from pipeline.publisher import PublishError, RecordPublisher, SpoolCollector
from pipeline.round_reports import RoundReports
from scrapeline.settings import ConfigError, Settings
from scrapers.daemon import ScrapeDaemon
from scrapers.jobs import FailedPage, JobResult
from scrapers.pool import Round, ScrapePool
from scrapers.quality import RoundChecks
from scrapers.registry import Registry, discover, unknown_plugin_sections
from scrapers.stats import RoundReport

log = logging.getLogger("scrapeline.round")


def open_publisher(settings: Settings) -> RecordPublisher:
    return RecordPublisher(settings.kafka, settings.data_dir / "spool", spool_max_mb=settings.pool.spool_max_mb)


def failure_sink(publisher: RecordPublisher) -> Callable[[FailedPage], None]:
    return lambda page: publisher.publish_failure(page.plugin, page.url, page.attempts, page.error, page.snapshot)


def enabled_plugins(registry: Registry, settings: Settings) -> list[str]:
    return [name for name in sorted(registry.entries) if registry.create(name, settings).settings["enabled"]]


def round_kinds(settings: Settings, report: RoundReport) -> list[str]:
    """The record kinds of the plugins that took part in ``report``'s round."""
    registry = discover(settings.pool.plugin_paths)
    return sorted({registry.entries[name].cls.kind for name in report.plugins if name in registry.entries})


def _selected(settings: Settings, selected: Sequence[str] | None, registry: Registry | None) -> tuple[Registry, list[str]]:
    registry = registry if registry is not None else discover(settings.pool.plugin_paths)
    for problem in registry.problems:
        log.error("plugin not loaded: %s", problem)
    for unknown in unknown_plugin_sections(registry, settings):
        log.warning("%s", unknown)
    names = list(selected) if selected else enabled_plugins(registry, settings)
    for name in names:
        registry.get(name)  # an unknown --plugin is a clear error before any browser starts
    return registry, names


def open_round_store(settings: Settings) -> RoundReports | None:
    """Where rounds are kept and compared (``<index_prefix>-rounds``); None, with a warning, without Elasticsearch."""
    try:
        return RoundReports.open(settings.elasticsearch)
    except ConfigError as exc:
        log.warning("rounds are not kept and not compared with earlier ones: %s", exc)
        return None


def check_rounds(settings: Settings, registry: Registry, report: RoundReport) -> None:
    """The [alerts] rules on each plugin's round of ``report``, which is kept in Elasticsearch."""
    checks = RoundChecks(settings, open_round_store(settings))
    ended = time.time()
    for name, stats in report.plugins.items():
        plugin = registry.entries[name].cls
        checks.round_done(name, plugin.kind, list(plugin.schema.fields), stats, ended)
    checks.close()


def scrape_round(
    settings: Settings,
    selected: Sequence[str] | None = None,
    *,
    registry: Registry | None = None,
    on_result: Callable[[Round, JobResult], None] | None = None,
) -> RoundReport:
    """Scrape the ``selected`` plugins (default: every enabled one) once; records go to Kafka."""
    registry, names = _selected(settings, selected, registry)
    publisher = open_publisher(settings)
    try:
        with ScrapePool(settings, publisher.publish, registry=registry, on_failure=failure_sink(publisher), on_result=on_result) as pool:
            report = pool.run_round(names)
            check_rounds(settings, registry, report)
        publisher.flush()
    except PublishError as exc:
        report.problems.append(f"kafka: {exc}")
    finally:
        publisher.close()
    report.problems[:0] = [str(problem) for problem in registry.problems]
    return report


def daemon_client_id(settings: Settings) -> str:
    """How a daemon names itself in the scrape group, ``scrapeline-scrape-<host>-<pid>@<metrics address>``:
    `scrapeline status` finds each daemon's /metrics through Kafka alone."""
    name = f"{settings.kafka.client_id}-scrape-{socket.gethostname()}-{os.getpid()}"
    if not settings.metrics.port:
        return name
    host = settings.metrics.host if settings.metrics.host not in ("", "0.0.0.0", "::") else socket.getfqdn()
    return f"{name}@{host}:{settings.metrics.port}"


def run_daemon(settings: Settings, selected: Sequence[str] | None = None, *, max_rounds: int | None = None) -> int:
    """The scrape daemon: every selected (default: enabled) plugin on its schedule until a stop signal.

    Daemons started with the same [kafka] settings share one crawl through the Kafka frontier.
    """
    registry, names = _selected(settings, selected, registry=None)
    publisher = open_publisher(settings)
    frontier = None
    try:
        frontier = KafkaFrontier(settings.kafka, names, client_id=daemon_client_id(settings))
        with ScrapePool(settings, publisher.publish, registry=registry, on_failure=failure_sink(publisher)) as pool:
            daemon = ScrapeDaemon(
                settings, pool, names, spool_bytes=publisher.spool.pending_bytes, spool_problem=publisher.problem, max_rounds=max_rounds,
                round_store=open_round_store(settings),
                frontier=frontier,
            )  # fmt: skip
            daemon.metrics.registry.register(SpoolCollector(publisher))
            code = daemon.run()
        try:
            publisher.flush(timeout=settings.pool.shutdown_timeout)
        except PublishError as exc:
            log.warning("%s", exc)
    finally:
        if frontier is not None:
            frontier.close()
        publisher.close()
    log.info("stopped")
    return code
