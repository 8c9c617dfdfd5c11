"""Kibana saved objects as code: data views, Lens visualisations and one dashboard per built-in kind.

``saved_objects(prefix)`` builds them for an index prefix; the NDJSON
committed beside this module is its output for the default prefix (a test
keeps the two equal), and ``scrapeline kibana setup`` imports the output for
the configured prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from pipeline.documents import history_pattern, latest_index
from pipeline.round_reports import TIME_FIELD as ROUNDS_TIME_FIELD
from pipeline.round_reports import rounds_index

NDJSON_PATH = Path(__file__).with_name("kibana_objects.ndjson")
DEFAULT_PREFIX = "scrapeline"
# The saved-object format these objects are written in; Kibana migrates them forward on import.
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "lens": "8.9.0", "dashboard": "8.9.0"}
LAYER = "layer1"
TIME_FIELD = "scraped_at"


# -- Lens columns -----------------------------------------------------------------------------------


def date_column(field: str = TIME_FIELD) -> dict[str, Any]:
    return {"label": field, "dataType": "date", "operationType": "date_histogram", "sourceField": field,
            "isBucketed": True, "scale": "interval", "params": {"interval": "auto", "includeEmptyRows": False}}  # fmt: skip


def terms_column(field: str, size: int, order_by: str | dict[str, Any] | None = None, direction: str = "desc", *,
                 data_type: str = "string", label: str = "", secondary: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Top ``size`` values of ``field`` (combined with the ``secondary`` fields' values: Lens's multi-terms),
    ranked by another column of the layer (its id), by a metric that is not shown (a column dict), or
    alphabetically (None)."""
    params: dict[str, Any] = {"size": size, "orderDirection": direction, "otherBucket": False, "missingBucket": False}
    if secondary:
        params.update(secondaryFields=list(secondary), parentFormat={"id": "multi_terms"})
    if isinstance(order_by, dict):
        params.update(orderBy={"type": "custom"}, orderAgg=order_by)
    elif order_by:
        params["orderBy"] = {"type": "column", "columnId": order_by}
    else:
        params["orderBy"] = {"type": "alphabetical", "fallback": True}
    return {"label": label or field, "dataType": data_type, "operationType": "terms", "sourceField": field, "isBucketed": True,
            "scale": "ordinal", "params": params}  # fmt: skip


def metric_column(operation: str, field: str, label: str) -> dict[str, Any]:
    """``average``, ``max``, ``min`` or ``sum`` of a number field, or ``count`` of documents."""
    column: dict[str, Any] = {"label": label, "customLabel": True, "dataType": "number", "operationType": operation,
                              "sourceField": field, "isBucketed": False, "scale": "ratio"}  # fmt: skip
    if operation == "count":
        column["sourceField"] = "___records___"
    return column


# -- Lens visualisations ----------------------------------------------------------------------------


def lens(object_id: str, title: str, data_view: str, columns: dict[str, dict[str, Any]], visualization_type: str, visualization: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": object_id,
        "type": "lens",
        "attributes": {
            "title": title,
            "description": "",
            "visualizationType": visualization_type,
            "state": {
                "datasourceStates": {"formBased": {"layers": {LAYER: {"columns": columns, "columnOrder": list(columns), "incompleteColumns": {}}}}},
                "visualization": visualization,
                "query": {"language": "kuery", "query": ""},
                "filters": [],
            },
        },
        "references": [{"type": "index-pattern", "id": data_view, "name": f"indexpattern-datasource-layer-{LAYER}"}],
    }


def xy_chart(object_id: str, title: str, data_view: str, x: dict[str, Any], y: dict[str, Any], split: dict[str, Any] | None = None,
             series: str = "line") -> dict[str, Any]:  # fmt: skip
    columns = {"x": x, **({"split": split} if split else {}), "y": y}
    layer: dict[str, Any] = {"layerId": LAYER, "layerType": "data", "seriesType": series, "xAccessor": "x", "accessors": ["y"]}
    if split:
        layer["splitAccessor"] = "split"
    visualization = {"preferredSeriesType": series, "legend": {"isVisible": split is not None, "position": "right"},
                     "valueLabels": "hide", "fittingFunction": "Linear", "layers": [layer]}  # fmt: skip
    return lens(object_id, title, data_view, columns, "lnsXY", visualization)


def table(object_id: str, title: str, data_view: str, columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    visualization = {"layerId": LAYER, "layerType": "data", "columns": [{"columnId": column_id} for column_id in columns]}
    return lens(object_id, title, data_view, columns, "lnsDatatable", visualization)


# -- data views and dashboards --------------------------------------------------------------------


def data_view(object_id: str, name: str, pattern: str, time_field: str = TIME_FIELD) -> dict[str, Any]:
    return {"id": object_id, "type": "index-pattern", "attributes": {"title": pattern, "name": name, "timeFieldName": time_field}, "references": []}


def dashboard(object_id: str, title: str, description: str, panels: list[dict[str, Any]], time_from: str) -> dict[str, Any]:
    """A dashboard of the given Lens objects, two per row."""
    panels_json, references = [], []
    for number, panel in enumerate(panels):
        ref = f"panel_{number}"
        panels_json.append({"type": "lens", "panelIndex": str(number), "panelRefName": ref, "embeddableConfig": {"enhancements": {}},
                            "gridData": {"x": 24 * (number % 2), "y": 15 * (number // 2), "w": 24, "h": 15, "i": str(number)}})  # fmt: skip
        references.append({"type": "lens", "id": panel["id"], "name": f"{number}:{ref}"})
    return {
        "id": object_id,
        "type": "dashboard",
        "attributes": {
            "title": title,
            "description": description,
            "panelsJSON": json.dumps(panels_json, separators=(",", ":")),
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": True, "hidePanelTitles": False}, separators=(",", ":")),
            "timeRestore": True,
            "timeFrom": time_from,
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"language": "kuery", "query": ""}, "filter": []})},
        },
        "references": references,
    }


def crypto_objects(prefix: str) -> Iterator[dict[str, Any]]:
    history_view, latest_view = f"{prefix}-crypto_quote-history", f"{prefix}-crypto_quote-latest"
    yield data_view(history_view, "Crypto quotes (history)", history_pattern(prefix, "crypto_quote"))
    yield data_view(latest_view, "Crypto quotes (latest)", latest_index(prefix, "crypto_quote"))
    # The 10 largest coins by market cap: one line each; prices one line per coin and source (CoinMarketCap, CoinGecko).
    top_coins = lambda *secondary: terms_column("slug", 10, metric_column("max", "market_cap_usd", "market cap"),  # noqa: E731
                                                label=" › ".join(("coin", *secondary)), secondary=secondary)  # fmt: skip
    charts = []
    for field, title, operation, by in (("price_usd", "Price (USD) per coin and source", "average", ("source",)),
                                        ("market_cap_usd", "Market cap (USD) per coin", "average", ()),
                                        ("change_24h", "24h change (%) per coin", "average", ())):  # fmt: skip
        charts.append(xy_chart(f"{prefix}-crypto-{field}", title, history_view, date_column(), metric_column(operation, field, title), top_coins(*by)))
    for direction, title in (("desc", "Top movers: gainers (24h)"), ("asc", "Top movers: losers (24h)")):
        charts.append(table(f"{prefix}-crypto-movers-{direction}", title, latest_view, {
            "coin": terms_column("slug", 10, "change", direction, label="coin"),
            "change": metric_column("max", "change_24h", "24h change (%)"),
            "price": metric_column("max", "price_usd", "price (USD)"),
            "cap": metric_column("max", "market_cap_usd", "market cap (USD)"),
        }))  # fmt: skip
    yield from charts
    yield dashboard(f"{prefix}-crypto_quote", "Crypto quotes", "Price, market cap and 24h change over time per coin; top movers.", charts, "now-24h")


def food_objects(prefix: str) -> Iterator[dict[str, Any]]:
    view = f"{prefix}-food_product-latest"
    yield data_view(view, "Food products", latest_index(prefix, "food_product"))
    count = lambda: metric_column("count", "", "products")  # noqa: E731
    charts = [
        xy_chart(f"{prefix}-food-nutriscore", "Products by Nutri-Score", view, terms_column("nutriscore_grade", 6, label="Nutri-Score"), count(), series="bar"),
        xy_chart(f"{prefix}-food-nova", "Products by NOVA group", view, terms_column("nova_group", 4, data_type="number", label="NOVA group"), count(), series="bar"),
        xy_chart(f"{prefix}-food-brands", "Top brands", view, terms_column("brands", 15, "y", label="brand"), count(), series="bar_horizontal"),
        xy_chart(f"{prefix}-food-categories", "Top categories", view, terms_column("categories", 15, "y", label="category"), count(), series="bar_horizontal"),
    ]
    yield from charts
    yield dashboard(f"{prefix}-food_product", "Food products", "Products by Nutri-Score, NOVA group, brand and category.", charts, "now-1y")


def crawl_health_objects(prefix: str) -> Iterator[dict[str, Any]]:
    """Every plugin's rounds (pipeline/round_reports.py): records, error rate and duration per round, and the alerts that fired."""
    view = rounds_index(prefix)
    yield data_view(view, "Scrape rounds", rounds_index(prefix), time_field=ROUNDS_TIME_FIELD)
    per_plugin = lambda: terms_column("plugin", 20, label="plugin")  # noqa: E731
    when = lambda: date_column(ROUNDS_TIME_FIELD)  # noqa: E731
    charts = [
        xy_chart(f"{prefix}-rounds-records", "Records per round", view, when(), metric_column("max", "records", "records"), per_plugin()),
        xy_chart(f"{prefix}-rounds-error-rate", "Error rate per round", view, when(), metric_column("max", "error_rate", "failed pages (share)"), per_plugin()),
        xy_chart(f"{prefix}-rounds-seconds", "Round duration (s)", view, when(), metric_column("max", "seconds", "seconds"), per_plugin()),
        table(f"{prefix}-rounds-alerts", "Alerts", view, {
            "rule": terms_column("alerts", 10, "rounds", label="rule"),
            "plugin": terms_column("plugin", 20, "rounds", label="plugin"),
            "rounds": metric_column("count", "", "rounds"),
        }),
    ]  # fmt: skip
    yield from charts
    yield dashboard(f"{prefix}-crawl-health", "Crawl health", "Records, failed pages and duration of every plugin's rounds; the alerts that fired.",
                    charts, "now-7d")  # fmt: skip


def saved_objects(prefix: str = DEFAULT_PREFIX) -> list[dict[str, Any]]:
    objects = [*crypto_objects(prefix), *food_objects(prefix), *crawl_health_objects(prefix)]
    for obj in objects:
        obj["coreMigrationVersion"] = CORE_MIGRATION_VERSION
        obj["typeMigrationVersion"] = TYPE_MIGRATION_VERSIONS[obj["type"]]
    return objects


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n" for obj in objects)


def dashboards(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(id, title) of every dashboard among ``objects``."""
    return [(obj["id"], obj["attributes"]["title"]) for obj in objects if obj["type"] == "dashboard"]
