"""The plugin contract: what a site plugin declares and the three methods it may write."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
import json
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Mapping, Union
from urllib.parse import urljoin

from bs4 import BeautifulSoup

from scrapeline.records import Schema
from scrapers.readiness import WaitFor

if TYPE_CHECKING:
    from scrapers.tab import Tab


@dataclass(frozen=True)
class Request:
    """A page to visit: yielded by :meth:`Plugin.start_requests` or :meth:`Plugin.parse`.

    ``meta`` travels with the request to the page it renders (``page.meta``),
    e.g. the listing a product was found on. ``label`` names the page kind
    (``"listing"``, ``"product"``): it is on ``page.label`` and picks the rate
    bucket by default. ``fetch`` overrides the plugin's fetch mode for this
    page (``"browser"`` or ``"http"``); ``headers`` are sent with HTTP fetches.
    """

    url: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    fetch: str | None = None
    # Not in repr: headers may carry credentials (an API key), and a repr ends up in logs.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.fetch not in (None, *FETCH_MODES):
            raise ValueError(f"Request.fetch: expected one of {', '.join(FETCH_MODES)}, got {self.fetch!r}")


FETCH_MODES = ("browser", "http")


@dataclass
class Page:
    """A loaded page as :meth:`Plugin.parse` receives it.

    ``html`` is the DOM the moment the plugin's ``wait_for`` held (browser
    pages), or the response body (HTTP pages); ``soup`` is the same HTML
    parsed with lxml and ``json()`` the body of an API response. ``status`` is
    the HTTP status when known; ``label`` is the request's.
    """

    url: str
    html: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    label: str = ""

    @cached_property
    def soup(self) -> BeautifulSoup:
        return BeautifulSoup(self.html, "lxml")

    def json(self) -> Any:
        """The body parsed as JSON (an API response); raises ValueError naming the page when it is not."""
        text = self.html
        if text.lstrip()[:1] not in ("{", "["):
            shown = self.soup.select_one("body > pre")  # a browser shows a JSON response in a <pre>
            text = shown.get_text() if shown is not None else text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.url}: the body is not JSON ({exc})") from None

    def urljoin(self, href: str) -> str:
        """An absolute URL for a link found on this page."""
        return urljoin(self.url, href)

    def follow(self, href: str, label: str = "", **meta: Any) -> Request:
        """A :class:`Request` for a link found on this page, e.g. ``yield page.follow(a["href"], "product")``;
        keyword arguments become the new page's ``meta``."""
        return Request(self.urljoin(href), meta, label=label)


Record = Mapping[str, Any]
ParseResult = Iterable[Union[Record, Request]]


class Plugin:
    """Base class of a site plugin. Subclass it in one file; the registry finds it.

    Declare:

    - ``name``: unique, lower-case (``coinmarketcap``); names the ``[plugin:NAME]`` config section.
    - ``kind``: the record type (``crypto_quote``); names the Kafka topic and the Elasticsearch index.
    - ``schema``: a :class:`~scrapeline.records.Schema` of the records ``parse`` yields.
    - ``wait_for``: when a browser page is ready to read: a CSS selector, ``js("expression")``,
      a callable taking the :class:`~scrapers.tab.Tab`, or a list of those (any one suffices);
      a method ``def wait_for(self, tab)`` works too. The HTML is taken the moment it holds,
      without waiting for the load event, e.g. ``wait_for = ["#barcode", js("Array.isArray(window.products)")]``.
    - ``fetch``: ``"browser"`` (the default) or ``"http"`` for pages that need no browser
      (APIs, static HTML); a plugin that only fetches over HTTP never starts a browser.
    - ``expects_records``: True (the default) when a page that yields neither records nor links
      means the site changed or blocked us: such a page is snapshotted like a failed one.
    - ``default_settings``: the plugin's own settings and their defaults; the
      ``[plugin:NAME]`` section overrides them, typed like the defaults.

    Write ``start_requests`` (or set ``start_urls``) and ``parse``; ``interact``
    is optional. Example::

        class Quotes(Plugin):
            name = "quotes"
            kind = "quote"
            schema = Schema(fields={"text": "text", "author": "str"}, id_fields=("text",))
            wait_for = "div.quote"
            default_settings = {"base_url": "https://quotes.toscrape.com/js/"}

            def start_requests(self):
                yield Request(self.settings["base_url"])

            def parse(self, page):
                for quote in page.soup.select("div.quote"):
                    yield {"text": quote.select_one(".text").get_text(strip=True),
                           "author": quote.select_one(".author").get_text(strip=True)}
                next_link = page.soup.select_one("li.next a")
                if next_link:
                    yield page.follow(next_link["href"])
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    schema: ClassVar[Schema]
    wait_for: ClassVar[WaitFor] = None
    fetch: ClassVar[str] = "browser"
    # A page that gives neither records nor links is taken as broken and snapshotted (scrapers/snapshots.py);
    # False for a site whose pages may rightly be empty.
    expects_records: ClassVar[bool] = True
    start_urls: ClassVar[tuple[str, ...]] = ()
    default_settings: ClassVar[Mapping[str, Any]] = {}

    #: Defaults of the settings every plugin has; each may be overridden in ``[plugin:NAME]``.
    common_settings: ClassVar[Mapping[str, Any]] = {
        "enabled": True,
        # Seconds between rounds, or a cron expression (the daemon's schedule).
        "interval": "3600",
        # Seconds to wait for ``wait_for`` before the page counts as failed.
        "wait_timeout": 20.0,
        # Pages one round may visit, start pages and followed links together.
        "max_pages": 100,
        # Sent as the browser's User-Agent when set.
        "user_agent": "",
        # Pages per minute this plugin may load; 0 means no limit. See rate_limit().
        "requests_per_minute": 0.0,
        # Skip pages the site's robots.txt disallows for our User-Agent.
        "obey_robots": True,
        # The language pages show numbers and dates in (e.g. "de": "2.450,5" and "22. November 2026"):
        # the schema reads text fields in it. Empty: the separators are guessed, dates read in English.
        "locale": "",
        # Resource blocking over [browser]'s (scrapers/blocking.py): empty means as in [browser],
        # "none" means nothing. Types: image, media, font, stylesheet, script; hosts: patterns or "self".
        "block_resources": "",
        "block_hosts": "",
        "allow_hosts": "",
        # Proxies over [browser]'s (scrapers/proxies.py): empty means as in [browser], "none" means none.
        "proxy": "",
        "proxy_rotation": "",
    }

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: Mapping[str, Any] = {**self.common_settings, **self.default_settings, **(settings or {})}

    def start_requests(self) -> Iterator[Request]:
        """The first pages of a round. Defaults to ``start_urls``."""
        for url in self.start_urls:
            yield Request(url)

    def rate_limit(self, request: Request) -> tuple[str, float]:
        """The rate bucket of ``request`` and its pages per minute (0: no limit).

        By default a labelled request gets the bucket of its label, limited by the
        setting ``<label>_pages_per_minute`` when the plugin declares one (else
        ``requests_per_minute``): a site that allows 100 product pages but 10
        search pages a minute declares both settings and labels its requests.
        """
        if request.label:
            per_label = self.settings.get(f"{request.label}_pages_per_minute")
            return request.label, float(self.settings["requests_per_minute"] if per_label is None else per_label)
        return "pages", float(self.settings["requests_per_minute"])

    def interact(self, tab: "Tab", request: Request) -> None:
        """Optional: act on the rendered page before it is parsed (scroll, click, accept a banner)."""

    def needs_interaction(self, page: Page) -> bool:
        """Optional, with ``interact``: whether this page needs it, judged from the HTML taken the moment
        ``wait_for`` held. Saying False where the data is already there saves the interaction and a
        second read of the page, e.g. ``return 'id="__NEXT_DATA__"' not in page.html``."""
        return True

    def login(self, tab: "Tab") -> None:
        """Optional: log in, once per browser before its first page of this plugin (browser pages only).

        ``tab.open(url)`` loads a page; fill in the form and submit it. The cookies and
        localStorage it leaves are saved under ``<[pool] data_dir>/sessions/<name>.json`` and
        restored in later browsers instead of logging in again, e.g.::

            def login(self, tab):
                tab.open(self.settings["base_url"] + "/login", wait_for="form#login")
                tab.type("#user", self.settings["username"])
                tab.type("#password", self.settings["password"])
                tab.click("button[type=submit]")
                tab.wait_for("#account")
        """

    def logged_in(self, page: Page) -> bool:
        """Whether ``page`` was served to a logged-in user; False logs in again and loads the page once more."""
        return True

    def parse(self, page: Page) -> ParseResult:
        """Yield one dict per record (schema fields, plus ``url`` to override the page's) and
        :class:`Request` objects for links to follow."""
        raise NotImplementedError
