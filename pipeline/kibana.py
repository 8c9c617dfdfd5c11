"""Import the saved objects into Kibana through its saved-objects API and say where the dashboards are."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from urllib3 import encode_multipart_formdata

from pipeline.clients import warn_if_credentials_in_clear
from pipeline.kibana_objects import dashboards, saved_objects, to_ndjson
from scrapeline.settings import KibanaSettings


class KibanaError(RuntimeError):
    """Kibana could not be reached, refused the import, or reported objects it could not import."""


class KibanaUnreachable(KibanaError):
    """Nothing answered at the Kibana URL."""


class KibanaClient:
    def __init__(self, settings: KibanaSettings) -> None:
        if not settings.url:
            raise KibanaError("no Kibana URL: pass --url or set [kibana] url")
        self.settings = settings
        self.base = settings.url.rstrip("/")
        space = settings.space.strip()
        self.api = f"{self.base}/s/{space}" if space and space != "default" else self.base
        if settings.api_key or settings.username:
            warn_if_credentials_in_clear("Kibana", self.base)
        self._opener = urllib.request.build_opener(_CredentialsStayOnTheirHost())

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, Any]:
        headers = {"kbn-xsrf": "scrapeline", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.settings.api_key:
            headers["Authorization"] = f"ApiKey {self.settings.api_key}"
        elif self.settings.username:
            token = base64.b64encode(f"{self.settings.username}:{self.settings.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(f"{self.api}{path}", data=body, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.settings.request_timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", errors="replace")
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text
        except (urllib.error.URLError, OSError) as exc:
            raise KibanaUnreachable(f"Kibana at {self.base} is unreachable: {getattr(exc, 'reason', exc)}") from None

    def wait_until_available(self, timeout: float) -> None:
        """Poll ``/api/status`` until Kibana says it is available (it takes a minute after its container starts)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            try:
                status, body = self._request("GET", "/api/status")
                level = body.get("status", {}).get("overall", {}).get("level") if isinstance(body, dict) else None
                if status == 200 and level in (None, "available"):
                    return
                last = f"HTTP {status}, status {level!r}"
                if status in (401, 403):
                    raise KibanaError(f"Kibana at {self.base} refused the credentials (HTTP {status}): set [kibana] username/password or api_key")
            except KibanaUnreachable as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise KibanaError(f"Kibana at {self.base} was not available within {timeout:g} s ({last})")
            time.sleep(2)

    def import_objects(self, objects: list[dict[str, Any]]) -> int:
        """Import (overwriting earlier versions, so running it again is harmless); returns how many were imported."""
        body, content_type = encode_multipart_formdata({"file": ("scrapeline.ndjson", to_ndjson(objects).encode(), "application/ndjson")})
        status, answer = self._request("POST", "/api/saved_objects/_import?overwrite=true", body, content_type)
        if status != 200 or not isinstance(answer, dict):
            raise KibanaError(f"Kibana refused the import (HTTP {status}): {str(answer)[:300]}")
        if not answer.get("success", False):
            problems = [f"{e.get('type')} {e.get('id')}: {json.dumps(e.get('error'))}" for e in answer.get("errors", [])]
            raise KibanaError(f"Kibana imported {answer.get('successCount', 0)} of {len(objects)} objects; failed: " + "; ".join(problems)[:1000])
        return int(answer.get("successCount", len(objects)))

    def dashboard_url(self, dashboard_id: str) -> str:
        return f"{self.api}/app/dashboards#/view/{dashboard_id}"


class _CredentialsStayOnTheirHost(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but sends the Authorization header only to the origin it was meant for
    (scheme, host and port; http -> https on the same host keeps it)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]  # urllib's signature
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not _same_origin(req.full_url, new.full_url):
            new.remove_header("Authorization")
        return new


def _same_origin(old: str, new: str) -> bool:
    before, after = urlsplit(old), urlsplit(new)
    if (before.hostname or "").lower() != (after.hostname or "").lower():
        return False
    if (before.scheme, after.scheme) == ("http", "https"):  # an upgrade to TLS on the default ports
        return before.port in (None, 80) and after.port in (None, 443)
    return before.scheme == after.scheme and before.port == after.port


def setup_kibana(settings: KibanaSettings, index_prefix: str, *, wait: float = 0) -> list[tuple[str, str]]:
    """Import the data views and dashboards for ``index_prefix``; returns (title, link) per dashboard."""
    client = KibanaClient(settings)
    if wait > 0:
        client.wait_until_available(wait)
    objects = saved_objects(index_prefix)
    client.import_objects(objects)
    return [(title, client.dashboard_url(object_id)) for object_id, title in dashboards(objects)]
