"""Bulk-index documents into Elasticsearch: 429s retried per item, outages reported per batch.

Items Elasticsearch rejects for good (a mapping conflict, HTTP 400) come
back to the caller, who sends them to the dead-letter topic. A version
conflict (409) on a ``latest`` document means a newer observation is already
there: it counts as done. When Elasticsearch is unreachable or keeps
answering 429/5xx, :class:`TransientIndexError` tells the caller to back off
and send the same batch again.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch, helpers

from pipeline.mappings import kind_properties, kind_template, template_name
from scrapeline.records import Schema
from scrapeline.settings import ElasticsearchSettings


# Statuses that mean "try again later", not "this document is wrong".
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransientIndexError(RuntimeError):
    """Elasticsearch is unreachable or overloaded; the whole batch is retried."""


class MappingConflict(RuntimeError):
    """An existing index has a field typed differently from what the schema now declares."""


@dataclass(frozen=True)
class Rejected:
    """A document Elasticsearch refused for good."""

    index: str
    id: str
    status: int
    reason: str


@dataclass
class BulkOutcome:
    rejected: list[Rejected]
    stale: int = 0


class BulkIndexer:
    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self.client = client
        self.settings = settings
        self._installed: dict[str, Schema] = {}

    def ensure_kind(self, kind: str, schema: Schema) -> None:
        """Install the kind's index template, and add new schema fields to its existing indices.

        Idempotent: the same template is put again; a field whose type changed
        cannot be altered in place and raises :class:`MappingConflict`.
        """
        if self._installed.get(kind) == schema:
            return
        prefix = self.settings.index_prefix
        body = kind_template(prefix, kind, schema, self.settings.number_of_shards, self.settings.number_of_replicas)
        existing = ",".join(body["index_patterns"])
        try:
            with transient_errors():
                self.client.indices.put_index_template(name=template_name(prefix, kind), **body)
                self.client.options(ignore_status=404).indices.put_mapping(index=existing, properties=kind_properties(schema), allow_no_indices=True)
        except ApiError as exc:
            raise MappingConflict(
                f"the indices {existing} were created with other field types than the {kind!r} schema declares: {exc.message}; "
                f"reindex them or use a new [elasticsearch] index_prefix"
            ) from None
        self._installed[kind] = schema

    def index(self, actions: list[dict[str, Any]]) -> BulkOutcome:
        """Index ``actions`` once (429 items retried inside, as ``streaming_bulk`` does);
        :class:`TransientIndexError` when the batch must be sent again later."""
        if not actions:
            return BulkOutcome([])
        return self._bulk_once(actions)

    def refresh(self, index: str) -> None:
        with transient_errors():
            self.client.options(ignore_status=404).indices.refresh(index=index, allow_no_indices=True)

    def _bulk_once(self, actions: list[dict[str, Any]]) -> BulkOutcome:
        outcome = BulkOutcome([])
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
        with transient_errors():
            for ok, item in results:
                if ok:
                    continue
                result = next(iter(item.values()))
                status = int(result.get("status", 500))
                error = result.get("error")
                reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
                if status == 409:
                    outcome.stale += 1
                elif status in TRANSIENT_STATUSES:
                    transient.append(f"{result.get('_id')}: {status} {reason}")
                else:
                    outcome.rejected.append(Rejected(result.get("_index", ""), result.get("_id", ""), status, reason))
        if transient:
            # The whole batch goes again; ids make the repeat harmless for the items that succeeded.
            raise TransientIndexError(f"{len(transient)} items still failing after retries, e.g. {transient[0]}")
        return outcome


@contextmanager
def transient_errors() -> Iterator[None]:
    """Turn "Elasticsearch is down or overloaded" into :class:`TransientIndexError`; other errors pass."""
    try:
        yield
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise TransientIndexError(f"Elasticsearch unreachable: {exc}") from exc
    except ApiError as exc:
        if exc.meta.status in TRANSIENT_STATUSES:
            raise TransientIndexError(f"Elasticsearch answered {exc.meta.status}: {exc.message}") from exc
        raise
