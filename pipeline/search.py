"""Search indexed documents of one kind, for browsing without Kibana."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from pipeline.documents import history_pattern, latest_index


class NothingIndexed(LookupError):
    """The kind has no index yet."""


def search_kind(client: Elasticsearch, prefix: str, kind: str, query: str = "", *, limit: int = 10, history: bool = False) -> tuple[int, list[dict[str, Any]]]:
    """Documents of ``kind`` matching ``query`` (Lucene syntax, as in Kibana's search bar:
    ``bitcoin``, ``symbol:BTC``, ``price_usd:>1000``, ``nutriscore_grade:a AND brands:Ferrero``).

    Best matches first when there is a query, newest first otherwise. Returns
    the total number of matches and the first ``limit`` documents.
    """
    index = history_pattern(prefix, kind) if history else latest_index(prefix, kind)
    body: dict[str, Any] = {"size": limit, "track_total_hits": True}
    if query.strip():
        body["query"] = {"query_string": {"query": query, "lenient": True, "default_operator": "AND"}}
        body["sort"] = ["_score", {"scraped_at": "desc"}]
    else:
        body["query"] = {"match_all": {}}
        body["sort"] = [{"scraped_at": "desc"}]
    try:
        found = client.search(index=index, allow_no_indices=False, **body)
    except NotFoundError:
        raise NothingIndexed(f"nothing of kind {kind!r} is indexed yet ({index}): run `scrapeline consume` after a scrape") from None
    total = found["hits"]["total"]
    return (total["value"] if isinstance(total, dict) else int(total)), [hit["_source"] for hit in found["hits"]["hits"]]
