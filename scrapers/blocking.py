"""Resource blocking: what carries no data is never fetched.

Three layers, each working where the one before it cannot:

1. Host rules, as Chromium's ``--host-resolver-rules``: a blocked host does
   not resolve, so its requests fail at once instead of hanging until they
   time out. This is a start-up flag, so it works on a local browser and
   through a Selenium Grid alike. ``allow_hosts = self`` keeps only the
   page's own host.
2. Resource types by start-up flag: images (``imagesEnabled=false``), web
   fonts (``--disable-remote-fonts``) and media autoplay. Also Grid-safe.
3. URL patterns through the DevTools protocol (``Network.setBlockedURLs``):
   every listed type by file extension, and the blocked hosts precisely. Used
   where CDP is reachable: locally, and through a Grid that forwards
   ChromeDriver's ``goog/cdp/execute``.

Behind a proxy the proxy resolves the hosts, so layer 1 cannot hold: the local proxy forwarder
(``scrapers/proxies.py``) refuses hosts that :meth:`Blocking.allows_host` refuses, allow-lists
included; through a Grid without a forwarder, only layer 3's ``block_hosts`` patterns hold.

Settings: ``[browser] blocking`` (master switch), ``block_resources``,
``block_hosts`` and ``allow_hosts``; each of the last three may be set per
plugin (``[plugin:NAME]``), where an empty value means "as in [browser]" and
``none`` means nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from scrapeline.settings import BrowserSettings

RESOURCE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image": ("png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp"),
    "media": ("mp4", "webm", "ogg", "ogv", "mp3", "wav", "m4a", "aac", "mov", "m3u8"),
    "font": ("woff", "woff2", "ttf", "otf", "eot"),
    "stylesheet": ("css",),
    "script": ("js", "mjs"),
}
RESOURCE_FLAGS: dict[str, tuple[str, ...]] = {
    "image": ("--blink-settings=imagesEnabled=false",),
    "font": ("--disable-remote-fonts",),
    "media": ("--autoplay-policy=user-gesture-required",),
}
RESOURCE_TYPES = tuple(RESOURCE_EXTENSIONS)
SELF_HOST = "self"
RESOLVER_RULES_FLAG = "--host-resolver-rules="


@dataclass(frozen=True)
class Blocking:
    """What one page may not load; equal values mean the same browser can serve both pages."""

    resources: tuple[str, ...] = ()
    block_hosts: tuple[str, ...] = ()
    # With "self" already replaced by the page's host; empty means every host is allowed.
    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def for_page(cls, browser: BrowserSettings, plugin_settings: Mapping[str, Any], url: str) -> "Blocking":
        """The blocking of a page of a plugin: the plugin's settings over ``[browser]``'s."""
        if not browser.blocking:
            return cls()
        resources = _pick(plugin_settings.get("block_resources"), browser.block_resources)
        unknown = sorted(set(resources) - set(RESOURCE_TYPES))
        if unknown:
            raise ValueError(f"block_resources: unknown resource types {', '.join(unknown)} (known: {', '.join(RESOURCE_TYPES)})")
        own_host = (urlsplit(url).hostname or "").lower()
        allow = tuple(own_host if host == SELF_HOST else host for host in _pick(plugin_settings.get("allow_hosts"), browser.allow_hosts))
        return cls(
            resources=tuple(sorted(set(resources))),
            block_hosts=_pick(plugin_settings.get("block_hosts"), browser.block_hosts),
            allow_hosts=tuple(host for host in allow if host),
        )

    def resolver_rules(self) -> str:
        """Chromium host-resolver rules; the first MAP that matches a host wins, EXCLUDE exempts from all."""
        if self.allow_hosts:
            return ", ".join(["MAP * ~NOTFOUND", *(f"EXCLUDE {host}" for host in self.allow_hosts)])
        return ", ".join(f"MAP {host} ~NOTFOUND" for host in self.block_hosts)

    def allows_host(self, host: str) -> bool:
        """Whether a request to ``host`` may go out; the proxy forwarder asks (scrapers/proxies.py), since
        resolver rules do not reach hosts that a proxy resolves."""
        host = host.lower()
        if self.allow_hosts:
            return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.allow_hosts)
        return not any(fnmatch.fnmatchcase(host, pattern) for pattern in self.block_hosts)

    def chromium_flags(self) -> list[str]:
        return [flag for resource in self.resources for flag in RESOURCE_FLAGS.get(resource, ())]

    def url_patterns(self) -> list[str]:
        """Patterns for ``Network.setBlockedURLs`` (with and without a query string)."""
        patterns = [
            pattern
            for resource in self.resources
            for extension in RESOURCE_EXTENSIONS[resource]
            for pattern in (f"*.{extension}", f"*.{extension}?*")
        ]
        patterns += [pattern for host in self.block_hosts for pattern in (f"*://{host}/*", f"*://{host}:*")]
        return patterns


def merge_resolver_rules(rules: str, extra_args: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """One ``--host-resolver-rules`` flag from ours and any in ``[browser] extra_args`` (Chromium
    keeps only the last such flag); ours come first so a blocked host stays blocked. Returns the
    merged rules (None when there are none) and the other extra arguments."""
    others: list[str] = []
    extra_rules: list[str] = []
    for argument in extra_args:
        if argument.startswith(RESOLVER_RULES_FLAG):
            extra_rules.append(argument[len(RESOLVER_RULES_FLAG):].strip().strip('"'))
        else:
            others.append(argument)
    merged = ", ".join(part for part in (rules, *extra_rules) if part)
    return merged or None, others


def _pick(plugin_value: Any, browser_value: tuple[str, ...]) -> tuple[str, ...]:
    if plugin_value is None or (isinstance(plugin_value, str) and not plugin_value.strip()):
        return tuple(value.strip().lower() for value in browser_value if value.strip())
    values = plugin_value.split(",") if isinstance(plugin_value, str) else list(plugin_value)
    values = [str(value).strip().lower() for value in values if str(value).strip()]
    return () if values == ["none"] else tuple(values)
