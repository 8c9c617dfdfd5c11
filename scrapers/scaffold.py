"""`scrapeline plugins new NAME`: a commented plugin skeleton and its config section."""

from __future__ import annotations

from pathlib import Path

SKELETON = '''"""{title}: one record per item on {base_url}.

Check it on one page without Kafka:
    scrapeline plugins check {name} --url {base_url}
"""

from scrapers import Page, Plugin, Request, Schema, to_number


class {cls}(Plugin):
    # Unique name; also the [plugin:{name}] section of config.ini.
    name = "{name}"
    # The record type: names the Kafka topic and the Elasticsearch index.
    kind = "{name}_item"
    # Field types: str, text, int, float, bool, timestamp, list[str].
    # id_fields identify an item: a record with the same ids replaces the older one.
    schema = Schema(
        fields={{"title": "str", "price": "float"}},
        id_fields=("title",),
    )
    # A CSS selector that is on the page once it has rendered (JavaScript included).
    wait_for = "body"
    # Your own settings; config.ini overrides them, typed like these defaults.
    default_settings = {{"base_url": "{base_url}", "pages": 1}}

    def start_requests(self):
        base = self.settings["base_url"].rstrip("/")
        for page in range(1, self.settings["pages"] + 1):
            yield Request(f"{{base}}/?page={{page}}" if page > 1 else f"{{base}}/")

    # Optional: act on the page before parsing (scroll lazy rows in, click a banner away).
    # def interact(self, tab, request):
    #     tab.click_if_present("button#accept-cookies")
    #     tab.scroll_to_bottom()

    def parse(self, page: Page):
        # page.soup is the rendered HTML parsed by BeautifulSoup; page.url is where it came from.
        for item in page.soup.select("article"):
            title = item.select_one("h2")
            price = item.select_one(".price")
            yield {{
                "title": title.get_text(strip=True) if title else None,
                "price": to_number(price.get_text()) if price else None,
            }}
        # Follow links with page.follow(href); the round stops at [plugin:{name}] max_pages.
        # next_link = page.soup.select_one("a[rel=next]")
        # if next_link:
        #     yield page.follow(next_link["href"])
'''

CONFIG_SECTION = """
[plugin:{name}]
enabled = true
# Seconds between rounds in the daemon, or a cron expression.
interval = 3600
# The plugin's own settings (its default_settings) may be set here too, e.g.
# base_url = {base_url}
"""


def write_skeleton(name: str, folder: Path, base_url: str = "https://example.com") -> Path:
    """Write ``folder/name.py``; refuses to overwrite an existing file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if path.exists():
        raise FileExistsError(f"{path} exists already; pick another name or remove it")
    title = name.replace("_", " ").title()
    cls = title.replace(" ", "")
    path.write_text(SKELETON.format(name=name, cls=cls, title=title, base_url=base_url))
    return path


def config_section(name: str, base_url: str = "https://example.com") -> str:
    return CONFIG_SECTION.format(name=name, base_url=base_url)
