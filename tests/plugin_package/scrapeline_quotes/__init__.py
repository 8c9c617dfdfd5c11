"""Quotes from a JavaScript-rendered quotes site, following its "Next" links."""

from scrapers import Page, Plugin, Request, Schema


class Quotes(Plugin):
    name = "quotes"
    kind = "quote"
    schema = Schema(fields={"text": "text", "author": "str", "tags": "list[str]"}, id_fields=("author", "text"))
    wait_for = "div.quote"
    default_settings = {"base_url": "https://quotes.toscrape.com/js"}
    # Installed into the test venv: off unless a config enables it.
    common_settings = {**Plugin.common_settings, "enabled": False}

    def start_requests(self):
        yield Request(self.settings["base_url"].rstrip("/") + "/")

    def parse(self, page: Page):
        for quote in page.soup.select("div.quote"):
            yield {
                "text": quote.select_one(".text").get_text(strip=True),
                "author": quote.select_one(".author").get_text(strip=True),
                "tags": [tag.get_text(strip=True) for tag in quote.select(".tags a.tag")],
            }
        next_link = page.soup.select_one("li.next a")
        if next_link is not None:
            yield page.follow(next_link["href"])
