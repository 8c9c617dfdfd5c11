"""Prometheus ``/metrics`` and a ``/healthz`` on one port, for the scrape daemon and the consumer."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("scrapeline.metrics")


class MetricsServer:
    """Serves ``/metrics`` (Prometheus text format) and ``/healthz`` (JSON; 503 when unhealthy)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], dict]) -> None:

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                if self.path.startswith("/metrics"):
                    body, status, kind = generate_latest(registry), 200, CONTENT_TYPE_LATEST
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

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_metrics_server(host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], dict]) -> MetricsServer | None:
    """The endpoint, or None when ``port`` is 0 or taken (logged: metrics must never stop the work)."""
    if not port:
        return None
    try:
        server = MetricsServer(host, port, registry, healthy)
    except OSError as exc:
        log.error("metrics endpoint not started on %s:%d: %s", host, port, exc)
        return None
    log.info("metrics at %s/metrics, health at %s/healthz", server.url, server.url)
    return server
