"""Proxies: which one a browser or an HTTP page goes through, and the local forwarder that makes
authenticated proxies work with Chromium.

``[browser] proxy`` (or ``[plugin:NAME] proxy``) is ``http://user:pass@host:port`` or
``socks5://[user:pass@]host:port``, or a comma-separated list of those. A list rotates:
``proxy_rotation = browser`` gives each new browser the next proxy; ``request`` gives each HTTP
page the next one (a browser cannot change proxy per page, so browser pages rotate per browser
either way).

Chromium takes no proxy credentials by flag. A local browser is therefore always given a
:class:`~scrapers.proxy_forwarder.Forwarder`: a small HTTP proxy on 127.0.0.1 (one per browser, a thread of the worker) that
relays each request to the real proxy with its ``Proxy-Authorization`` (or SOCKS5 login). Because
every connection of the browser passes through it, it also keeps the page's host blocking:
Chromium's ``--host-resolver-rules`` do not apply to hosts a proxy resolves, so a blocked host is
answered 403 by the forwarder without reaching the proxy. Through a Selenium Grid the node must
reach the forwarder: ``[browser] proxy_forwarder_bind`` (and ``proxy_forwarder_host``, the name
the node knows this host by). Without those, a Grid browser is given a proxy without credentials
directly, and one with credentials is refused with a message saying what to set.

Passwords appear nowhere but in the bytes sent to the proxy: not in Chromium's flags, not in logs,
not in errors (:meth:`Proxy.redacted`).
"""

from __future__ import annotations

import itertools
import logging
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, unquote, urlsplit

from scrapeline.settings import BrowserSettings
from scrapers.blocking import Blocking
from scrapers.proxy_forwarder import Forwarder

log = logging.getLogger("scrapeline.proxies")

SCHEMES = ("http", "socks5", "socks5h")
ROTATIONS = ("browser", "request")


class ProxyError(ValueError):
    """A proxy setting is malformed, or a proxy cannot be used as configured."""


class ProxyRefused(RuntimeError):
    """The proxy refused our credentials: another try will not change that."""


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, text: str, where: str = "proxy") -> "Proxy":
        """``http://user:pass@host:port`` or ``socks5://host:port``; errors never show the password."""
        parts = urlsplit(text.strip())
        shown = f"{parts.scheme}://{parts.hostname or ''}"
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in SCHEMES:
            raise ProxyError(f"{where}: {shown!r} is not a proxy URL (expected http://host:port or socks5://host:port)")
        if not parts.hostname or port is None:
            raise ProxyError(f"{where}: {shown!r} needs a host and a port, e.g. http://user:pass@proxy.example:8080")
        if parts.path not in ("", "/") or parts.query:
            raise ProxyError(f"{where}: {shown}:{port} must not have a path")
        return cls(parts.scheme, parts.hostname, port, unquote(parts.username or ""), unquote(parts.password or ""))

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def redacted(self) -> str:
        """The URL to show: ``http://user:***@host:port``."""
        user = f"{self.username}:***@" if self.has_credentials else ""
        return f"{self.scheme}://{user}{_netloc(self.host, self.port)}"

    def url(self) -> str:
        """The URL with its credentials, for an HTTP client; never log it."""
        user = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@" if self.has_credentials else ""
        return f"{self.scheme}://{user}{_netloc(self.host, self.port)}"

    def redact(self, text: str) -> str:
        """``text`` with this proxy's password (raw or percent-encoded) replaced by ``***``."""
        for secret in {self.password, quote(self.password, safe="")} - {""}:
            text = text.replace(secret, "***")
        return text


def parse_proxies(values: Any, where: str) -> tuple[Proxy, ...]:
    items = values.split(",") if isinstance(values, str) else list(values)
    return tuple(Proxy.parse(str(item), where) for item in items if str(item).strip())


def proxies_for(plugin_settings: Mapping[str, Any], browser: BrowserSettings, plugin: str = "NAME") -> tuple[Proxy, ...]:
    """A plugin's proxies: ``[plugin:NAME] proxy`` (``none``: no proxy), else ``[browser] proxy``."""
    own = str(plugin_settings.get("proxy") or "").strip()
    if own.lower() == "none":
        return ()
    if own:
        return parse_proxies(own, f"[plugin:{plugin}] proxy")
    return parse_proxies(browser.proxy, "[browser] proxy")


def rotation_for(plugin_settings: Mapping[str, Any], browser: BrowserSettings) -> str:
    rotation = str(plugin_settings.get("proxy_rotation") or browser.proxy_rotation).strip().lower()
    if rotation not in ROTATIONS:
        raise ProxyError(f"proxy_rotation: expected browser or request, got {rotation!r}")
    return rotation


class Rotation:
    """Hands out the proxies of each list in turn, from a random start (so that workers spread)."""

    def __init__(self) -> None:
        self._cycles: dict[tuple[Proxy, ...], Any] = {}
        self._lock = threading.Lock()

    def next(self, proxies: tuple[Proxy, ...]) -> Proxy:
        with self._lock:
            if proxies not in self._cycles:
                start = random.randrange(len(proxies))
                self._cycles[proxies] = itertools.cycle(proxies[start:] + proxies[:start])
            return next(self._cycles[proxies])


# One rotation per process: a worker's browsers and HTTP pages take their turns from it.
ROTATION = Rotation()


class HttpProxyChoice:
    """The proxy of each HTTP page: the next one per request, or per ``[browser] max_pages`` requests."""

    def __init__(self, max_pages: int) -> None:
        self._max_pages = max_pages
        self._current: dict[tuple[Proxy, ...], tuple[Proxy, int]] = {}

    def pick(self, proxies: tuple[Proxy, ...], rotation: str) -> Proxy | None:
        if not proxies:
            return None
        proxy, used = self._current.get(proxies, (None, 0))
        if proxy is None or rotation == "request" or used >= self._max_pages:
            proxy, used = ROTATION.next(proxies), 0
        self._current[proxies] = (proxy, used + 1)
        return proxy


@dataclass
class Route:
    """How one browser reaches the network: its proxy, and the forwarder in front of it if any."""

    proxy: Proxy
    server: str  # the value of Chromium's --proxy-server (never with credentials)
    forwarder: "Forwarder | None" = None

    def chromium_flags(self) -> list[str]:
        # Chromium sends loopback hosts around the proxy unless told otherwise; every page goes
        # through it, as in HTTP mode.
        return [f"--proxy-server={self.server}", "--proxy-bypass-list=<-loopback>"]

    def take_problem(self) -> tuple[str, bool] | None:
        """The forwarder's last failure to reach or use the proxy (message, final), once."""
        return self.forwarder.take_problem() if self.forwarder else None

    def close(self) -> None:
        if self.forwarder:
            self.forwarder.close()


def open_route(settings: BrowserSettings, proxies: tuple[Proxy, ...], blocking: Blocking) -> Route | None:
    """The route of a new browser: the next proxy of ``proxies``, behind a forwarder where one is reachable."""
    if not proxies:
        return None
    proxy = ROTATION.next(proxies)
    bind = settings.proxy_forwarder_bind or ("" if settings.remote_url else "127.0.0.1")
    if not bind:
        if proxy.has_credentials:
            raise ProxyError(
                f"proxy {proxy.redacted()} has credentials, which Chromium cannot take by flag, and the Grid node cannot "
                "reach a forwarder on this host's loopback: set [browser] proxy_forwarder_bind (and proxy_forwarder_host) "
                "to an address the node reaches, or configure the proxy on the node and leave [browser] proxy empty"
            )
        if blocking.allow_hosts:
            log.warning("allow_hosts cannot hold behind proxy %s without a forwarder (the proxy resolves the hosts; "
                        "block_hosts still hold by DevTools patterns): set [browser] proxy_forwarder_bind", proxy.redacted())
        return Route(proxy, f"{proxy.scheme}://{_netloc(proxy.host, proxy.port)}")
    try:
        forwarder = Forwarder(proxy, blocking.allows_host, bind).start()
    except OSError as exc:
        raise ProxyError(f"the proxy forwarder could not listen on {bind}: {exc.strerror or exc}") from None
    host = settings.proxy_forwarder_host or (bind if bind not in ("0.0.0.0", "::") else socket.gethostname())
    return Route(proxy, f"http://{_netloc(host, forwarder.port)}", forwarder)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
