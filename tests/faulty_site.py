"""A loopback site whose pages misbehave on purpose, then recover: for retry and recovery tests.

Each path serves the CoinMarketCap fixture listing after its fault:
``/hang-once/`` never answers the first request; ``/429-twice/`` answers 429 twice;
``/slow/`` answers after ``slow_seconds`` and sets ``slow_request_seen`` when asked.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LISTING = (Path(__file__).parent / "fixtures" / "sites" / "coinmarketcap" / "index.html").read_bytes()


class FaultySite:
    def __init__(self, slow_seconds: float = 1.5) -> None:
        self.hits: Counter[str] = Counter()
        self.slow_request_seen = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                site.hits[path] += 1
                count = site.hits[path]
                if path == "/hang-once/" and count == 1:
                    time.sleep(30)
                    return
                if path == "/429-twice/" and count <= 2:
                    self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": "1"})
                    return
                if path == "/slow/":
                    site.slow_request_seen.set()
                    time.sleep(slow_seconds)
                if path in ("/hang-once/", "/429-twice/", "/slow/", "/clean/"):
                    self._send(200, LISTING, "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser gave up on this request

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
