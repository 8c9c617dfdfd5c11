"""Where a record goes in Elasticsearch, and the bulk actions that put it there.

Each kind has a ``latest`` index holding one document per entity (a coin by
slug, a product by barcode) and, when its schema keeps history, one history
index per time partition holding every observation. Both ``_id`` s derive from
the record, so a replay overwrites instead of duplicating.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scrapeline.records import Schema, ScrapedRecord

# How history indices are cut: the strftime layout of the index-name suffix.
PARTITIONS = {"day": "%Y.%m.%d", "month": "%Y.%m", "year": "%Y"}


def latest_index(prefix: str, kind: str) -> str:
    """``scrapeline-crypto_quote-latest``: the newest observation of each entity."""
    return f"{prefix}-{kind}-latest"


def history_pattern(prefix: str, kind: str) -> str:
    """The wildcard matching every history partition of ``kind``."""
    return f"{prefix}-{kind}-history-*"


def history_index(prefix: str, kind: str, scraped_at: str, partition: str = "month") -> str:
    """``scrapeline-crypto_quote-history-2026.11``: the partition of the time the record was scraped,
    so a replayed record lands in the same index as the first time."""
    moment = datetime.fromisoformat(scraped_at.replace("Z", "+00:00"))
    return f"{prefix}-{kind}-history-{moment.strftime(PARTITIONS[partition])}"


def kind_indices(prefix: str, kind: str) -> str:
    """Every index of ``kind``, for searches across latest and history."""
    return f"{latest_index(prefix, kind)},{history_pattern(prefix, kind)}"


def document(record: ScrapedRecord, indexed_at: str) -> dict[str, Any]:
    """The indexed document: the record's fields, where and when it was scraped, and when it was indexed."""
    return {
        **record.record,
        "record_id": record.id,
        "plugin": record.plugin,
        "kind": record.kind,
        "url": record.url,
        "scraped_at": record.scraped_at,
        "indexed_at": indexed_at,
    }


def epoch_millis(timestamp: str) -> int:
    return max(0, int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000))


def index_actions(prefix: str, record: ScrapedRecord, schema: Schema, indexed_at: str, partition: str = "month") -> list[dict[str, Any]]:
    """The bulk actions for one record.

    The ``latest`` document is versioned by ``scraped_at`` (external_gte): an
    older observation arriving late, from a replay or another partition, is
    refused with a version conflict instead of overwriting a newer one.
    """
    source = document(record, indexed_at)
    actions = [
        {
            "_op_type": "index",
            "_index": latest_index(prefix, record.kind),
            "_id": record.id,
            "version": epoch_millis(record.scraped_at),
            "version_type": "external_gte",
            "_source": source,
        }
    ]
    if schema.history:
        actions.append(
            {
                "_op_type": "index",
                "_index": history_index(prefix, record.kind, record.scraped_at, partition),
                "_id": f"{record.id}@{record.scraped_at}",
                "_source": source,
            }
        )
    return actions
