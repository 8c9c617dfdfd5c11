"""The scrape daemon's Prometheus metrics (served by scrapeline.metrics_server)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scrapers.jobs import JobResult


class DaemonMetrics:
    """The daemon's counters, exported as ``scrapeline_*`` metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pages = Counter("scrapeline_pages", "Pages rendered", ["plugin"], registry=self.registry)
        self.records = Counter("scrapeline_records", "Records published", ["plugin"], registry=self.registry)
        self.failures = Counter("scrapeline_page_failures", "Pages that failed after every retry", ["plugin"], registry=self.registry)
        self.retries = Counter("scrapeline_retries", "Page loads tried again", ["plugin"], registry=self.registry)
        self.rounds = Counter("scrapeline_rounds", "Rounds completed", ["plugin"], registry=self.registry)
        self.workers_alive = Gauge("scrapeline_workers_alive", "Worker processes alive", registry=self.registry)
        self.pages_in_flight = Gauge("scrapeline_pages_in_flight", "Pages being rendered now", registry=self.registry)
        self.spool_bytes = Gauge("scrapeline_spool_pending_bytes", "Bytes waiting in the spool for Kafka", registry=self.registry)
        # Where a page's time goes: navigate, wait (readiness and interact), html, parse, publish.
        self.phase_seconds = Histogram(
            "scrapeline_page_phase_seconds", "Seconds of one page in one phase", ["plugin", "phase"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )
        # Data-quality rules of [alerts] (scrapers/quality.py): records_drop, null_share, error_rate, stale.
        self.alerts = Counter("scrapeline_alerts", "Alert rules that fired", ["plugin", "rule"], registry=self.registry)
        self.alert_active = Gauge(
            "scrapeline_alert_active", "1 while the rule fires for the plugin's latest round (stale: until a round completes)",
            ["plugin", "rule"], registry=self.registry,
        )
        self.last_tick = time.monotonic()

    def count(self, result: JobResult) -> None:
        plugin = result.job.plugin
        self.pages.labels(plugin).inc()
        self.records.labels(plugin).inc(len(result.records))
        self.retries.labels(plugin).inc(result.attempts - 1)
        for phase, seconds in result.timings.items():
            self.phase_seconds.labels(plugin, phase).observe(seconds)
        if result.error:
            self.failures.labels(plugin).inc()
