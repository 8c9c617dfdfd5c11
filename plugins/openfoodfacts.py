"""OpenFoodFacts products: walk facet or search listings, follow each product, one record per product.

Listing pages render their product list with JavaScript from an inline
``var products = [...]``; the plugin reads the rendered links and falls back
to that array. Product pages are read field by field; a field the page does
not show is null, never guessed. The site asks robots to identify themselves
and to stay under about 100 product pages and 10 search pages a minute; those
are the defaults here.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag

from scrapers import Page, Plugin, Request, Schema, to_number

PRODUCT_LINKS = '#search_results ul.products li a[href*="/product/"]'
LISTING_SCRIPT = re.compile(r"var products\s*=\s*(\[.*?\])\s*;\s*\n", re.S)
NUTRIENTS = {
    "energy_kcal": ("energy",),
    "fat": ("fat",),
    "saturated_fat": ("saturated fat", "saturated-fat"),
    "carbohydrates": ("carbohydrates", "carbohydrate"),
    "sugars": ("sugars",),
    "fiber": ("fiber", "fibre", "dietary fiber"),
    "proteins": ("proteins", "protein"),
    "salt": ("salt",),
}
FIELDS = {
    "code": "str",
    "product_name": "str",
    "brands": "str",
    "quantity": "str",
    "categories": "list[str]",
    "labels": "list[str]",
    "countries": "list[str]",
    "nutriscore_grade": "str",
    "nova_group": "int",
    "ecoscore_grade": "str",
    **{name: "float" for name in NUTRIENTS},
    "ingredients_text": "text",
    "allergens": "list[str]",
    "image_url": "str",
}
_GRADE_IMAGE = {
    "nutriscore_grade": re.compile(r"nutriscore-([a-e])\b"),
    "ecoscore_grade": re.compile(r"(?:ecoscore|green-score)-([a-e])\b"),
    "nova_group": re.compile(r"nova-group-([1-4])\b"),
}
_KCAL = re.compile(r"\(?\s*([\d.,]+)\s*kcal", re.I)


class OpenFoodFacts(Plugin):
    name = "openfoodfacts"
    kind = "food_product"
    schema = Schema(fields=FIELDS, id_fields=("code",))
    # A listing counts as rendered once its product list is filled; a product page once the barcode shows.
    wait_for = f"{PRODUCT_LINKS}, #barcode"
    default_settings = {
        "base_url": "https://world.openfoodfacts.org",
        # Listing paths (facets, categories or searches), comma-separated; pages are appended as /N.
        "listings": "/facets/nutrition-grades/c",
        # Listing pages per listing path and round.
        "pages": 1,
        "product_pages_per_minute": 100.0,
        "search_pages_per_minute": 10.0,
    }
    common_settings = {
        **Plugin.common_settings,
        "interval": "86400",
        "max_pages": 500,
        "user_agent": "scrapeline/0.1 (OpenFoodFacts plugin; set [plugin:openfoodfacts] user_agent to your contact)",
    }

    def start_requests(self) -> Iterator[Request]:
        base = str(self.settings["base_url"]).rstrip("/")
        for path in str(self.settings["listings"]).split(","):
            if path.strip():
                yield Request(f"{base}/{path.strip().strip('/')}/1", {"listing_page": 1})

    def rate_limit(self, request: Request) -> tuple[str, float]:
        if "/product/" in request.url:
            return "product", float(self.settings["product_pages_per_minute"])
        return "search", float(self.settings["search_pages_per_minute"])

    def parse(self, page: Page) -> Iterator[dict[str, Any] | Request]:
        if page.soup.select_one("#barcode") is not None:
            yield record_from_product_page(page.soup, page.urljoin)
            return
        for url in product_links(page.soup):
            yield page.follow(url, listing=page.url)
        listing_page = int(page.meta.get("listing_page", 1))
        next_link = page.soup.select_one('#pages a[rel^="next"]')
        if next_link is not None and listing_page < int(self.settings["pages"]):
            yield page.follow(next_link["href"], listing_page=listing_page + 1)


def product_links(soup: BeautifulSoup) -> list[str]:
    """Product URLs of a listing: the rendered list, else the page's ``var products`` array."""
    links = [a["href"] for a in soup.select(PRODUCT_LINKS)]
    if links:
        return links
    legacy = [a["href"] for a in soup.select('ul.products li a[href^="/product/"]')]
    if legacy:
        return legacy
    for script in soup.find_all("script"):
        match = LISTING_SCRIPT.search(script.string or "")
        if match:
            # Absolute URLs to the live host; the path alone keeps a mirror on itself.
            return [urlsplit(item["url"]).path for item in json.loads(match.group(1)) if item.get("url")]
    return []


def record_from_product_page(soup: BeautifulSoup, urljoin: Any = lambda href: href) -> dict[str, Any]:
    """One product's fields as the page shows them; absent fields are None (lists: empty)."""
    record: dict[str, Any] = {
        "code": _text(soup.select_one("#barcode")),
        "product_name": _product_name(soup),
        "brands": _text(soup.select_one("#field_brands_value")),
        "quantity": _text(soup.select_one("#field_quantity_value")),
        "categories": _values(soup, "categories"),
        "labels": _values(soup, "labels"),
        "countries": _values(soup, "countries"),
        "ingredients_text": _text(soup.select_one("#panel_ingredients_content .panel_text")),
        "allergens": _allergens(soup),
    }
    images = " ".join(img.get("src", "") for img in soup.select("img"))
    for field, pattern in _GRADE_IMAGE.items():
        match = pattern.search(images)
        record[field] = (int(match.group(1)) if field == "nova_group" else match.group(1)) if match else None
    record.update(_nutriments(soup))
    image = soup.select_one("img#og_image") or soup.select_one('meta[property="og:image"]')
    source = image.get("src") or image.get("content") if image else None
    record["image_url"] = urljoin(source) if source else None
    return record


def _text(node: Tag | None) -> str | None:
    if node is None:
        return None
    text = node.get_text(" ", strip=True)
    return re.sub(r"\s+,", ",", text) or None


def _product_name(soup: BeautifulSoup) -> str | None:
    node = soup.select_one('[property="food:name"]')
    if node is None:
        return None
    # The heading reads "Name – Brand – Quantity"; the name is its first part.
    return re.split(r"\s+[–-]\s+", node.get_text(" ", strip=True))[0] or None


def _values(soup: BeautifulSoup, field: str) -> list[str]:
    node = soup.select_one(f"#field_{field}_value")
    if node is None:
        return []
    links = [a.get_text(strip=True) for a in node.select("a")]
    return links or [part.strip() for part in node.get_text().split(",") if part.strip()]


def _allergens(soup: BeautifulSoup) -> list[str]:
    for strong in soup.select("#panel_ingredients_content strong"):
        if strong.get_text(strip=True).lower().startswith("allergens"):
            text = strong.parent.get_text(" ", strip=True).split(":", 1)[-1]
            return [part.strip() for part in text.split(",") if part.strip()]
    return []


def _nutriments(soup: BeautifulSoup) -> dict[str, float | None]:
    values: dict[str, float | None] = {name: None for name in NUTRIENTS}
    for row in soup.select("#panel_nutrition_facts_table_content tr"):
        cells = row.find_all("td")
        if len(cells) < 2:
            continue
        label = cells[0].get_text(" ", strip=True).lower()
        shown = cells[1].get_text(" ", strip=True)
        for name, labels in NUTRIENTS.items():
            if label in labels:
                values[name] = _per_100g(name, shown)
    return values


def _per_100g(name: str, shown: str) -> float | None:
    if name == "energy_kcal":
        match = _KCAL.search(shown)
        return to_number(match.group(1)) if match else None
    # "4.5 g", "4,5 g", "< 0.5 g" (a bound, kept as the bound), "?" (missing).
    cleaned = shown.replace("<", "").replace(">", "").replace("~", "").strip()
    cleaned = re.sub(r"\s*(mg|g)\s*$", "", cleaned, flags=re.I)
    value = to_number(cleaned)
    if value is not None and shown.strip().lower().endswith("mg"):
        value /= 1000
    return value
