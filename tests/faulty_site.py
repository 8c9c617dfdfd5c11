"""A loopback site whose pages misbehave on purpose, then recover: for retry and recovery tests.

Each path serves the CoinMarketCap fixture listing after its fault:
``/hang-once/`` never answers the first request; ``/429-twice/`` answers 429 twice;
``/slow/`` answers after ``slow_seconds`` and sets ``slow_request_seen`` when asked.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

from loopback import LoopbackServer, QuietHandler

LISTING = (Path(__file__).parent / "fixtures" / "sites" / "coinmarketcap" / "index.html").read_bytes()


class FaultySite:
    def __init__(self, slow_seconds: float = 1.5) -> None:
        self.hits: Counter[str] = Counter()
        self.slow_request_seen = threading.Event()
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                site.hits[path] += 1
                count = site.hits[path]
                if path == "/hang-once/" and count == 1:
                    time.sleep(30)
                    return
                if path == "/429-twice/" and count <= 2:
                    self.send(429, b"Too Many Requests", "text/plain", {"Retry-After": "1"})
                    return
                if path == "/slow/":
                    site.slow_request_seen.set()
                    time.sleep(slow_seconds)
                if path in ("/hang-once/", "/429-twice/", "/slow/", "/clean/"):
                    self.send(200, LISTING, "text/html; charset=utf-8")
                else:
                    self.send(404, b"not found", "text/plain")

            def do_HEAD(self) -> None:  # noqa: N802
                # What the last GET of this path got (a browser asks a 429 page for its Retry-After).
                path = self.path.split("?")[0]
                if path == "/429-twice/" and site.hits[path] <= 2:
                    self.send(429, b"", "text/plain", {"Retry-After": "1"})
                else:
                    self.send(200, b"", "text/html; charset=utf-8")

        self._server = LoopbackServer(Handler).start()
        self.url = self._server.url

    def stop(self) -> None:
        self._server.stop()
