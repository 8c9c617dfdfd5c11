"""A stand-in for Kibana's saved-objects API on loopback, as Scrapy's tests use a mock server.

It answers what `scrapeline kibana setup` calls: ``GET /api/status`` (unavailable
for the first ``unavailable_polls`` calls) and ``POST /api/saved_objects/_import``,
checking the headers and the multipart body the real API requires.
"""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser

from loopback import LoopbackServer, QuietHandler


class KibanaStub(LoopbackServer):
    def __init__(self, unavailable_polls: int = 0, import_errors: list | None = None) -> None:
        self.unavailable_polls = unavailable_polls
        self.import_errors = import_errors or []
        self.imported: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        stub = self

        class Handler(QuietHandler):
            def _answer(self, status, body):
                self.send(status, json.dumps(body).encode(), "application/json")

            def do_GET(self):
                stub.requests.append(("GET", self.path))
                if self.path != "/api/status":
                    return self._answer(404, {"statusCode": 404})
                if stub.unavailable_polls > 0:
                    stub.unavailable_polls -= 1
                    return self._answer(503, {"status": {"overall": {"level": "unavailable"}}})
                return self._answer(200, {"version": {"number": "9.1.0"}, "status": {"overall": {"level": "available"}}})

            def do_POST(self):
                stub.requests.append(("POST", self.path))
                if not self.path.startswith("/api/saved_objects/_import"):
                    return self._answer(404, {"statusCode": 404})
                if "kbn-xsrf" not in self.headers:
                    return self._answer(400, {"statusCode": 400, "message": "Request must contain a kbn-xsrf header."})
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = BytesParser(policy=policy.default).parsebytes(f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                files = [part for part in message.iter_parts() if part.get_param("name", header="content-disposition") == "file"]
                if not files or not (files[0].get_filename() or "").endswith(".ndjson"):
                    return self._answer(415, {"statusCode": 415, "message": "expected an .ndjson file field"})
                objects = [json.loads(line) for line in files[0].get_content().splitlines() if line.strip()]
                stub.imported = objects
                if stub.import_errors:
                    return self._answer(200, {"success": False, "successCount": len(objects) - len(stub.import_errors), "errors": stub.import_errors})
                return self._answer(200, {"success": True, "successCount": len(objects), "successResults": []})

        super().__init__(Handler)
