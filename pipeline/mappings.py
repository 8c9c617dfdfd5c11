"""Explicit Elasticsearch mappings per kind, derived from the plugin's schema.

Mappings are ``strict``: a field the schema does not declare is refused
(HTTP 400, the message goes to the dead-letter topic) instead of silently
growing the mapping.
"""

from __future__ import annotations

from typing import Any, Mapping

from pipeline.documents import history_pattern, latest_index
from scrapeline.records import Schema

# Schema field type -> mapping. Exact strings are keywords (aggregations, filters) with a
# text sub-field for full-text search; "text" fields are long prose.
FIELD_MAPPINGS: dict[str, dict[str, Any]] = {
    "str": {"type": "keyword", "ignore_above": 2048, "fields": {"text": {"type": "text"}}},
    "text": {"type": "text"},
    "int": {"type": "long"},
    "float": {"type": "double"},
    "bool": {"type": "boolean"},
    "timestamp": {"type": "date"},
    "list[str]": {"type": "keyword", "ignore_above": 2048, "fields": {"text": {"type": "text"}}},
}

# What every document carries besides the record (see pipeline.documents.document).
ENVELOPE_MAPPINGS: dict[str, dict[str, Any]] = {
    "record_id": {"type": "keyword"},
    "plugin": {"type": "keyword"},
    "kind": {"type": "keyword"},
    "url": {"type": "keyword", "ignore_above": 4096},
    "scraped_at": {"type": "date"},
    "indexed_at": {"type": "date"},
}

# Above the priority of any catch-all template a user may have for "<prefix>-*".
TEMPLATE_PRIORITY = 200


def kind_properties(schema: Schema) -> dict[str, Any]:
    return {**{name: FIELD_MAPPINGS[kind] for name, kind in schema.fields.items()}, **ENVELOPE_MAPPINGS}


def template_name(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def kind_template(prefix: str, kind: str, schema: Schema, shards: int = 1, replicas: int = 1) -> dict[str, Any]:
    """The index template for a kind's latest index and its history partitions."""
    patterns = [latest_index(prefix, kind)]
    if schema.history:
        patterns.append(history_pattern(prefix, kind))
    return {
        "index_patterns": patterns,
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": {"dynamic": "strict", "properties": kind_properties(schema)},
        },
        "_meta": {"managed_by": "scrapeline", "kind": kind},
    }


def field_types(schemas: Mapping[str, Schema]) -> dict[str, dict[str, str]]:
    """kind -> field -> Elasticsearch type, for checking what dashboards and searches refer to."""
    return {kind: {name: spec["type"] for name, spec in kind_properties(schema).items()} for kind, schema in schemas.items()}
