"""Scrape rounds kept in Elasticsearch: one document per plugin-round in ``<index_prefix>-rounds``.

The documents are built by the scrape side (pages, records, errors, per-field null and invalid
shares, the alerts that fired); this module only keeps and reads them, with the mapping
declared here, so Kibana's "Crawl health" dashboard can chart them and the next rounds can be
compared with the last ones, across restarts.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from pipeline.clients import make_elasticsearch
from pipeline.indexer import transient_errors
from pipeline.mappings import TEMPLATE_PRIORITY
from scrapeline.settings import ElasticsearchSettings

TIME_FIELD = "ended_at"
_SHARE = {"type": "double"}
ROUNDS_PROPERTIES: dict[str, dict[str, Any]] = {
    "plugin": {"type": "keyword"},
    "kind": {"type": "keyword"},
    "started_at": {"type": "date"},
    "ended_at": {"type": "date"},
    "seconds": {"type": "double"},
    "pages": {"type": "long"},
    "records": {"type": "long"},
    "errors": {"type": "long"},
    "invalid_records": {"type": "long"},
    "retries": {"type": "long"},
    "skipped": {"type": "long"},
    "error_rate": {"type": "double"},
    # field name -> share; each plugin's schema fields, typed by the dynamic templates below.
    "null_share": {"type": "object", "dynamic": True},
    "invalid_share": {"type": "object", "dynamic": True},
    # The rules that fired (records_drop, null_share, error_rate) and what each said.
    "alerts": {"type": "keyword"},
    "alert_messages": {"type": "text"},
}


def rounds_index(prefix: str) -> str:
    return f"{prefix}-rounds"


def rounds_template(prefix: str, shards: int = 1, replicas: int = 1) -> dict[str, Any]:
    return {
        "index_patterns": [rounds_index(prefix)],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": {
                "dynamic": "strict",
                "dynamic_templates": [{f"{name}_fields": {"path_match": f"{name}.*", "mapping": _SHARE}} for name in ("null_share", "invalid_share")],
                "properties": ROUNDS_PROPERTIES,
            },
        },
        "_meta": {"managed_by": "scrapeline", "kind": "rounds"},
    }


def rounds_field_types() -> dict[str, str]:
    """field -> Elasticsearch type of the fixed fields, for checking what dashboards refer to."""
    return {name: spec["type"] for name, spec in ROUNDS_PROPERTIES.items()}


class RoundReports:
    """Keep and read plugin-round documents; errors (Elasticsearch down) are the caller's to report."""

    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self.client = client
        self.settings = settings
        self.index = rounds_index(settings.index_prefix)
        self._template = False

    @classmethod
    def open(cls, settings: ElasticsearchSettings) -> "RoundReports":
        return cls(make_elasticsearch(settings), settings)

    def keep(self, document: dict[str, Any]) -> None:
        with transient_errors():
            if not self._template:
                body = rounds_template(self.settings.index_prefix, self.settings.number_of_shards, self.settings.number_of_replicas)
                self.client.indices.put_index_template(name=self.index, **body)
                self._template = True
            # Refreshed at once: the next round of the plugin compares itself with this one.
            self.client.index(index=self.index, document=document, refresh=True)

    def history(self, plugin: str, rounds: int) -> list[dict[str, Any]]:
        """The plugin's last ``rounds`` documents, newest first (none before its first round)."""
        with transient_errors():
            found = self.client.options(ignore_status=404).search(
                index=self.index, query={"term": {"plugin": plugin}}, sort=[{TIME_FIELD: "desc"}], size=rounds, ignore_unavailable=True
            )
        return [hit["_source"] for hit in found.get("hits", {}).get("hits", [])]
