"""Prometheus ``/metrics`` and a ``/healthz`` on one port, for the scrape daemon and the consumer."""

from __future__ import annotations

import json
import logging
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from scrapeline.http_server import BackgroundHTTPServer, QuietHandler

log = logging.getLogger("scrapeline.metrics")


class MetricsServer(BackgroundHTTPServer):
    """Serves ``/metrics`` (Prometheus text format) and ``/healthz`` (JSON; 503 when unhealthy)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], dict]) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if self.path.startswith("/metrics"):
                    self.send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif self.path.startswith("/healthz"):
                    state = healthy()
                    self.send(200 if state["ok"] else 503, json.dumps(state).encode(), "application/json")
                else:
                    self.send(404, b"not found\n", "text/plain")

        super().__init__(Handler, host, port, name="metrics")


def start_metrics_server(host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], dict]) -> MetricsServer | None:
    """The endpoint, or None when ``port`` is 0 or taken (logged: metrics must never stop the work)."""
    if not port:
        return None
    try:
        server = MetricsServer(host, port, registry, healthy).start()
    except OSError as exc:
        log.error("metrics endpoint not started on %s:%d: %s", host, port, exc)
        return None
    log.info("metrics at %s/metrics, health at %s/healthz", server.url, server.url)
    return server
