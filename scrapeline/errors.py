"""Which exceptions are the user's to fix, and the one line that tells them how."""

from __future__ import annotations


def user_error(exc: BaseException) -> str | None:
    """A one-line message for a failure the user can act on, or None for a bug (show the traceback)."""
    names = {f"{cls.__module__}.{cls.__name__}" for cls in type(exc).__mro__}
    if names & {
        "scrapeline.settings.ConfigError",
        "scrapeline.devstack.DevStackError",
        "scrapers.browser.BrowserUnavailable",
        "pipeline.publisher.PublishError",
        "pipeline.spool.SpoolBusy",
        "pipeline.search.NothingIndexed",
        "pipeline.topics.TopicError",
        "pipeline.indexer.MappingConflict",
        "pipeline.kibana.KibanaError",
        "builtins.FileNotFoundError",
        "builtins.FileExistsError",
    }:
        return str(exc)
    if "kafka.errors.NoBrokersAvailable" in names:
        return "no Kafka broker answered at [kafka] bootstrap_servers (is it running? `scrapeline dev up` starts the embedded one)"
    if "kafka.errors.KafkaError" in names:
        return f"Kafka: {exc}"
    if "elastic_transport.TransportError" in names or "elasticsearch.ApiError" in names:
        return f"Elasticsearch: {exc}"
    return None
