"""Prometheus /metrics and a /healthz for the daemon, on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from scrapeline.settings import MetricsSettings
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
        self.last_tick = time.monotonic()

    def count(self, result: JobResult) -> None:
        plugin = result.job.plugin
        self.pages.labels(plugin).inc()
        self.records.labels(plugin).inc(len(result.records))
        self.retries.labels(plugin).inc(result.attempts - 1)
        if result.error:
            self.failures.labels(plugin).inc()


class MetricsServer:
    """Serves ``/metrics`` (Prometheus text format) and ``/healthz`` (JSON; 503 when unhealthy)."""

    def __init__(self, settings: MetricsSettings, metrics: DaemonMetrics, healthy: Callable[[], dict]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if self.path.startswith("/metrics"):
                    body, status, kind = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
                elif self.path.startswith("/healthz"):
                    state = healthy()
                    body, status, kind = json.dumps(state).encode(), 200 if state["ok"] else 503, "application/json"
                else:
                    body, status, kind = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((settings.host, settings.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self.url = f"http://{settings.host}:{self._server.server_address[1]}"
        outer._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
