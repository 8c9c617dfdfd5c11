"""Pages that need no browser (APIs, static HTML), fetched with one pooled httpx client per worker.

They go through the same machinery as browser pages: the pool's politeness and
robots.txt, the worker's retries, the failed-pages topic and the per-phase
timings; only the fetch differs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Mapping

import httpx

from scrapeline.settings import Settings
from scrapers.proxies import Proxy, ProxyRefused

# httpx logs every request at INFO; the pool's own lines say what was fetched.
logging.getLogger("httpx").setLevel(logging.WARNING)

# Bodies past this size are refused rather than held in memory.
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    headers: Mapping[str, str]
    text: str
    seconds: float


class HttpFetchError(RuntimeError):
    """The request failed before any response (connection refused, timeout, name not resolved)."""


class HttpFetcher:
    """GET requests over one connection pool; redirects followed, time bounded by ``[browser] page_load_timeout``."""

    def __init__(self, settings: Settings) -> None:
        timeout = settings.browser.page_load_timeout
        self._options = dict(
            follow_redirects=True,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )
        self._client = httpx.Client(**self._options)
        # One pool per proxy (scrapers/proxies.py); socks5 needs httpx[socks].
        self._proxied: dict[Proxy, httpx.Client] = {}

    def get(self, url: str, *, user_agent: str, headers: Mapping[str, str] | None = None, proxy: Proxy | None = None) -> HttpResponse:
        started = time.monotonic()
        request_headers = {"User-Agent": user_agent, "Accept": "application/json, text/html;q=0.9, */*;q=0.8", **(headers or {})}
        client = self._client if proxy is None else self._proxied.get(proxy) or self._proxied.setdefault(proxy, httpx.Client(proxy=proxy.url(), **self._options))
        try:
            with client.stream("GET", url, headers=request_headers) as response:
                if proxy is not None and response.status_code == 407:
                    raise ProxyRefused(f"proxy {proxy.redacted()} refused the credentials (HTTP 407): check [browser] proxy or the plugin's proxy")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise HttpFetchError(f"the body is larger than {MAX_BODY_BYTES // 2**20} MB")
                text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
                return HttpResponse(str(response.url), response.status_code, dict(response.headers), text, time.monotonic() - started)
        except httpx.ProxyError as exc:
            assert proxy is not None
            # httpx says 407 for an HTTP proxy; socksio's "Invalid username/password" for SOCKS5.
            if "407" in str(exc) or "username/password" in str(exc).lower():
                said = "HTTP 407" if "407" in str(exc) else "SOCKS5 login"
                raise ProxyRefused(f"proxy {proxy.redacted()} refused the credentials ({said}): check [browser] proxy or the plugin's proxy") from None
            raise HttpFetchError(f"proxy {proxy.redacted()}: {proxy.redact(str(exc))}") from None
        except httpx.HTTPError as exc:
            where = f"proxy {proxy.redacted()}: " if proxy is not None and isinstance(exc, httpx.ConnectError) else ""
            raise HttpFetchError(f"{where}{type(exc).__name__}: {proxy.redact(str(exc)) if proxy else exc}") from None

    def close(self) -> None:
        self._client.close()
        for client in self._proxied.values():
            client.close()
