"""OpenFoodFacts products: walk facet or search listings, one record per product.

Two sources (``[plugin:openfoodfacts] source``):

- ``html`` (the default): listing pages, then each product page, in the
  browser. Listing pages render their product list with JavaScript from an
  inline ``var products = [...]``; the page is ready as soon as that array has
  run (the rendering script and its third-party hosts are not waited for, and
  are blocked by default), and the plugin reads the rendered links or falls
  back to the array. The 2015 layout's static links are read as they are.
  Product pages are read field by field; a field the page does not show is
  null, never guessed.
- ``api``: the JSON API over HTTP, no browser: search v2 for listings (each
  result is a whole product, so one request gives a page of records) and
  product v2 for single products. The site asks bots to prefer it.

The site asks robots to identify themselves and to stay under 100 product
reads and 10 searches a minute; those are the defaults here, as the rate
buckets of the ``product`` and ``search`` labels.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator
from urllib.parse import urlencode, urlsplit

from bs4 import BeautifulSoup, Tag

from scrapers import Page, Plugin, Request, Schema, js, to_number

PRODUCT_LINKS = '#search_results ul.products li a[href*="/product/"]'
# The 2015 layout: a static list of product links.
LEGACY_PRODUCT_LINKS = 'ul.products li a[href^="/product/"]'
# Facet paths (/facets/brands/bel, or the older /brand/bel) -> search API tag fields.
FACET_TAGS = {
    "brand": "brands", "category": "categories", "label": "labels", "country": "countries",
    "state": "states", "nutrition-grade": "nutrition_grades", "store": "stores", "origin": "origins",
}
API_FIELDS = (
    "code,product_name,brands,quantity,categories,labels,countries,nutriscore_grade,nutrition_grade_fr,"
    "nova_group,ecoscore_grade,nutriments,ingredients_text,allergens_tags,image_url,image_front_url,url"
)
API_NUTRIENTS = {
    "fat": "fat_100g", "saturated_fat": "saturated-fat_100g", "carbohydrates": "carbohydrates_100g",
    "sugars": "sugars_100g", "fiber": "fiber_100g", "proteins": "proteins_100g", "salt": "salt_100g",
}
KJ_PER_KCAL = 4.184
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
    # Ready once the listing's links or product array, or the product's barcode, are in the DOM.
    wait_for = [PRODUCT_LINKS, LEGACY_PRODUCT_LINKS, "#barcode", js("Array.isArray(window.products)")]
    default_settings = {
        "base_url": "https://world.openfoodfacts.org",
        # html: listing and product pages in the browser; api: the JSON API over HTTP, no browser.
        "source": "html",
        # Listing paths (facets, categories or searches), comma-separated; pages are appended as /N.
        "listings": "/facets/nutrition-grades/c",
        # Listing pages per listing path and round.
        "pages": 1,
        # Products per search API page (source = api).
        "page_size": 50,
        "product_pages_per_minute": 100.0,
        "search_pages_per_minute": 10.0,
    }
    common_settings = {
        **Plugin.common_settings,
        "interval": "86400",
        "max_pages": 500,
        "user_agent": "scrapeline/0.1 (OpenFoodFacts plugin; set [plugin:openfoodfacts] user_agent to your contact)",
        # Everything the records need is in the document: no images, fonts or other hosts.
        "block_resources": "image,media,font",
        "allow_hosts": "self",
    }

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__(settings)
        if self.settings["source"] not in ("html", "api"):
            raise ValueError(f"[plugin:openfoodfacts] source: expected html or api, got {self.settings['source']!r}")
        self.fetch = "http" if self.settings["source"] == "api" else "browser"

    def start_requests(self) -> Iterator[Request]:
        base = str(self.settings["base_url"]).rstrip("/")
        for path in str(self.settings["listings"]).split(","):
            if not path.strip():
                continue
            if self.fetch == "http":
                yield Request(search_api_url(base, path, 1, int(self.settings["page_size"])), {"listing_page": 1}, label="search")
            else:
                yield Request(f"{base}/{path.strip().strip('/')}/1", {"listing_page": 1}, label="search")

    def parse(self, page: Page) -> Iterator[dict[str, Any] | Request]:
        if _is_json(page):
            yield from self._parse_api(page)
            return
        if page.soup.select_one("#barcode") is not None:
            yield record_from_product_page(page.soup, page.urljoin)
            return
        for url in product_links(page.soup):
            yield page.follow(url, "product", listing=page.url)
        listing_page = int(page.meta.get("listing_page", 1))
        next_link = page.soup.select_one('#pages a[rel^="next"]')
        if next_link is not None and listing_page < int(self.settings["pages"]):
            yield page.follow(next_link["href"], "search", listing_page=listing_page + 1)

    def _parse_api(self, page: Page) -> Iterator[dict[str, Any] | Request]:
        data = page.json()
        if isinstance(data.get("product"), dict):  # product v0/v2: {code, status, product}
            if data.get("status") in (1, "success") or data["product"].get("code"):
                yield record_from_api_product(data["product"], data.get("code"))
            return
        products = data.get("products")
        if not isinstance(products, list):
            raise ValueError(f"{page.url}: neither a product nor a search result")
        for product in products:
            if isinstance(product, dict) and product.get("code"):
                yield {**record_from_api_product(product), "url": product_url(page.url, product)}
        listing_page = int(data.get("page") or page.meta.get("listing_page", 1))
        page_count = int(data.get("page_count") or 0) or -(-int(data.get("count") or 0) // max(1, int(data.get("page_size") or 1)))
        if listing_page < min(page_count, int(self.settings["pages"])):
            yield Request(_with_page(page.url, listing_page + 1), {"listing_page": listing_page + 1}, label="search", fetch="http")


def product_links(soup: BeautifulSoup) -> list[str]:
    """Product URLs of a listing: the rendered list, else the page's ``var products`` array."""
    links = [a["href"] for a in soup.select(PRODUCT_LINKS)]
    if links:
        return links
    legacy = [a["href"] for a in soup.select(LEGACY_PRODUCT_LINKS)]
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


def search_api_url(base: str, listing_path: str, page: int, page_size: int) -> str:
    """The search v2 URL of a listing path such as ``/facets/nutrition-grades/c`` or ``/brand/bel``."""
    parts = [part for part in listing_path.strip().strip("/").split("/") if part]
    if parts and parts[0] == "facets":
        parts = parts[1:]
    if len(parts) != 2 or not re.fullmatch(r"[a-z][a-z-]*", parts[0]) or parts[0] == "cgi":
        raise ValueError(f"[plugin:openfoodfacts] listings: {listing_path!r} is not a facet path such as /facets/brands/bel")
    facet, value = parts
    singular = facet[:-3] + "y" if facet.endswith("ies") else facet.rstrip("s")
    field = FACET_TAGS.get(singular, facet).replace("-", "_") + "_tags"
    query = urlencode({field: value, "page": page, "page_size": page_size, "fields": API_FIELDS})
    return f"{base}/api/v2/search?{query}"


def record_from_api_product(product: dict[str, Any], code: Any = None) -> dict[str, Any]:
    """One product from the JSON API (search v2, product v2, and the older v0 shapes)."""
    nutriments = product.get("nutriments") or {}
    record: dict[str, Any] = {
        "code": str(product.get("code") or code or "") or None,
        "product_name": product.get("product_name") or None,
        "brands": product.get("brands") or None,
        "quantity": product.get("quantity") or None,
        "categories": _names(product.get("categories")),
        "labels": _names(product.get("labels")),
        "countries": _names(product.get("countries")),
        "nutriscore_grade": _grade(product.get("nutriscore_grade")) or _grade(product.get("nutrition_grade_fr")),
        "nova_group": product.get("nova_group") or None,
        "ecoscore_grade": _grade(product.get("ecoscore_grade")),
        "energy_kcal": _kcal(nutriments),
        **{field: to_number(str(nutriments[key])) if key in nutriments else None for field, key in API_NUTRIENTS.items()},
        "ingredients_text": product.get("ingredients_text") or None,
        "allergens": [tag.split(":", 1)[-1].replace("-", " ").capitalize() for tag in product.get("allergens_tags") or []],
        "image_url": product.get("image_url") or product.get("image_front_url") or None,
    }
    return record


def product_url(api_url: str, product: dict[str, Any]) -> str:
    """The product's page on the site the API answered from."""
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/product/{product['code']}"


def _is_json(page: Page) -> bool:
    content_type = str(page.headers.get("content-type", ""))
    return "json" in content_type or page.html.lstrip()[:1] in ("{", "[") or page.soup.select_one("body > pre:only-child") is not None


def _with_page(url: str, page: int) -> str:
    return re.sub(r"([?&]page=)\d+", lambda m: f"{m.group(1)}{page}", url)


def _names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _grade(value: Any) -> str | None:
    # The API says "unknown" or "not-applicable" where the page shows no grade.
    return value if isinstance(value, str) and len(value) == 1 else None


def _kcal(nutriments: dict[str, Any]) -> float | None:
    if "energy-kcal_100g" in nutriments:
        return to_number(str(nutriments["energy-kcal_100g"]))
    kilojoules = nutriments.get("energy-kj_100g", nutriments.get("energy_100g"))  # energy_100g is in kJ
    value = to_number(str(kilojoules)) if kilojoules is not None else None
    return round(value / KJ_PER_KCAL, 1) if value is not None else None


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
