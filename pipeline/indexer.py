"""Bulk-index documents into Elasticsearch: 429s retried per item, outages retried per batch.

Items Elasticsearch rejects for good (a mapping conflict, HTTP 400) come
back to the caller, who sends them to the dead-letter topic.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, helpers
from tenacity import Retrying, retry_if_exception_type, wait_exponential_jitter

from scrapeline.settings import ElasticsearchSettings

log = logging.getLogger("scrapeline.indexer")

# Statuses that mean "try again later", not "this document is wrong".
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransientIndexError(RuntimeError):
    """Elasticsearch is unreachable or overloaded; the whole batch is retried."""


class StopRequested(RuntimeError):
    """Raised out of the retry loop when the caller asked to stop."""


@dataclass(frozen=True)
class Rejected:
    """A document Elasticsearch refused for good."""

    index: str
    id: str
    status: int
    reason: str


def index_template(prefix: str) -> dict[str, Any]:
    """One template for every ``<prefix>-*`` index: exact numbers as doubles, strings as keywords."""
    return {
        "index_patterns": [f"{prefix}-*"],
        "priority": 100,
        "template": {
            "mappings": {
                "dynamic_templates": [
                    {"floating": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
                    {"integers": {"match_mapping_type": "long", "mapping": {"type": "long"}}},
                    {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 2048}}},
                ],
                "properties": {
                    "record_id": {"type": "keyword"},
                    "plugin": {"type": "keyword"},
                    "kind": {"type": "keyword"},
                    "url": {"type": "keyword"},
                    "scraped_at": {"type": "date"},
                },
            }
        },
    }


class BulkIndexer:
    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings, stop: threading.Event | None = None) -> None:
        self.client = client
        self.settings = settings
        self.stop = stop or threading.Event()
        self._template_ready = False

    def ensure_template(self) -> None:
        """Install the index template (idempotent: the same body is put again)."""
        body = index_template(self.settings.index_prefix)
        self._with_retries(lambda: self.client.indices.put_index_template(name=f"{self.settings.index_prefix}-records", **body))
        self._template_ready = True

    def index(self, actions: list[dict[str, Any]]) -> list[Rejected]:
        """Index ``actions``; return the ones rejected for good. Blocks (retrying) while Elasticsearch is unavailable."""
        if not actions:
            return []
        if not self._template_ready:
            self.ensure_template()
        return self._with_retries(lambda: self._bulk_once(actions))

    def refresh(self, index: str) -> None:
        self._with_retries(lambda: self.client.indices.refresh(index=index))

    def _bulk_once(self, actions: list[dict[str, Any]]) -> list[Rejected]:
        rejected: list[Rejected] = []
        transient: list[str] = []
        results = helpers.streaming_bulk(
            self.client,
            actions,
            chunk_size=self.settings.bulk_chunk_size,
            max_retries=self.settings.bulk_max_retries,
            initial_backoff=self.settings.initial_backoff,
            max_backoff=self.settings.max_backoff,
            raise_on_error=False,
            raise_on_exception=True,
        )
        try:
            for ok, item in results:
                if ok:
                    continue
                outcome = next(iter(item.values()))
                status = int(outcome.get("status", 500))
                error = outcome.get("error")
                reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                if status in TRANSIENT_STATUSES:
                    transient.append(f"{outcome.get('_id')}: {status} {reason}")
                else:
                    rejected.append(Rejected(outcome.get("_index", ""), outcome.get("_id", ""), status, reason))
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise TransientIndexError(f"Elasticsearch unreachable: {exc}") from exc
        except ApiError as exc:
            if exc.meta.status in TRANSIENT_STATUSES:
                raise TransientIndexError(f"Elasticsearch answered {exc.meta.status}: {exc}") from exc
            raise
        if transient:
            # The whole batch goes again; ids make the repeat harmless for the items that succeeded.
            raise TransientIndexError(f"{len(transient)} items still failing after retries, e.g. {transient[0]}")
        return rejected

    def _with_retries(self, call: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type((TransientIndexError, TransportConnectionError, ConnectionTimeout)),
            wait=wait_exponential_jitter(multiplier=self.settings.initial_backoff, max=self.settings.max_backoff, jitter=self.settings.initial_backoff),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                if self.stop.is_set():
                    raise StopRequested("stop requested while Elasticsearch was unavailable")
                return call()

    @staticmethod
    def _before_sleep(state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("Elasticsearch not available (%s); retry %d in %.1f s", exc, state.attempt_number, state.next_action.sleep)
