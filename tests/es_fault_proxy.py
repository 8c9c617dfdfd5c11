"""A loopback proxy in front of the real Elasticsearch that answers some bulk requests with an error first.

``statuses`` lists what the next ``_bulk`` requests get instead of being forwarded (429, 502, 503 ...);
once it is used up, every request goes through. Everything else is always forwarded.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class ElasticsearchFaultProxy:
    def __init__(self, upstream: str, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.refused = 0
        self.bulk_forwarded = 0
        target = urlsplit(upstream)
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_bulk = self.path.split("?")[0].endswith("/_bulk")
                with lock:
                    fault = proxy.statuses.pop(0) if is_bulk and proxy.statuses else None
                    if fault:
                        proxy.refused += 1
                    elif is_bulk:
                        proxy.bulk_forwarded += 1
                if fault:
                    return self._send(fault, json.dumps({"error": {"type": "injected", "reason": f"injected {fault}"}, "status": fault}).encode(),
                                      "application/json")  # fmt: skip
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                upstream_conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream_conn.getresponse()
                self._send(answer.status, answer.read(), answer.getheader("Content-Type", "application/json"), answer.getheader("X-Elastic-Product"))
                upstream_conn.close()

            def _send(self, status, data, content_type, product="Elasticsearch"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                # The official client refuses servers that do not say they are Elasticsearch.
                self.send_header("X-Elastic-Product", product or "Elasticsearch")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "ElasticsearchFaultProxy":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
