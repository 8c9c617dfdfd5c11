"""A loopback proxy in front of the real Elasticsearch that answers some bulk requests with an error first.

``statuses`` lists what the next ``_bulk`` requests get instead of being forwarded (429, 502, 503 ...);
once it is used up, every request goes through. Everything else is always forwarded.
"""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

from loopback import LoopbackServer, QuietHandler


class ElasticsearchFaultProxy(LoopbackServer):
    def __init__(self, upstream: str, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.refused = 0
        self.bulk_forwarded = 0
        target = urlsplit(upstream)
        lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_bulk = self.path.split("?")[0].endswith("/_bulk")
                with lock:
                    fault = proxy.statuses.pop(0) if is_bulk and proxy.statuses else None
                    if fault:
                        proxy.refused += 1
                    elif is_bulk:
                        proxy.bulk_forwarded += 1
                # The official client refuses answers that do not say they come from Elasticsearch.
                product = {"X-Elastic-Product": "Elasticsearch"}
                if fault:
                    error = {"error": {"type": "injected", "reason": f"injected {fault}"}, "status": fault}
                    return self.send(fault, json.dumps(error).encode(), "application/json", product)
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                upstream_conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream_conn.getresponse()
                self.send(answer.status, answer.read(), answer.getheader("Content-Type", "application/json"), product)
                upstream_conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        super().__init__(Handler)
