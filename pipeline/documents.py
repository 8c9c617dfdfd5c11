"""Turn a record from Kafka into an Elasticsearch bulk action."""

from __future__ import annotations

from typing import Any

from scrapeline.records import ScrapedRecord


def index_name(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def document(record: ScrapedRecord) -> dict[str, Any]:
    """The indexed document: the record's fields plus where and when it was scraped."""
    return {
        **record.record,
        "record_id": record.id,
        "plugin": record.plugin,
        "kind": record.kind,
        "url": record.url,
        "scraped_at": record.scraped_at,
    }


def index_action(prefix: str, record: ScrapedRecord) -> dict[str, Any]:
    """A bulk ``index`` action; the stable record id as ``_id`` makes a replay overwrite, not duplicate."""
    return {"_op_type": "index", "_index": index_name(prefix, record.kind), "_id": record.id, "_source": document(record)}
