"""Kafka and Elasticsearch clients built from settings, one place for connection options."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from scrapeline.settings import ConfigError, ElasticsearchSettings, KafkaSettings

log = logging.getLogger("scrapeline.clients")


def kafka_options(settings: KafkaSettings) -> dict[str, Any]:
    if not settings.bootstrap_servers:
        raise ConfigError("[kafka] bootstrap_servers is empty: set it, or run `scrapeline dev up` for the embedded broker")
    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return options


def make_producer(settings: KafkaSettings) -> KafkaProducer:
    """The one producer of a process: acks from all replicas, idempotent, batched."""
    return KafkaProducer(
        **kafka_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        max_in_flight_requests_per_connection=5,
        # Surface an outage within a minute; the spool keeps the records and tries again.
        delivery_timeout_ms=max(60000, settings.request_timeout_ms + settings.linger_ms),
    )


def make_consumer(settings: KafkaSettings, *, group_id: str | None = None) -> KafkaConsumer:
    return KafkaConsumer(
        **kafka_options(settings),
        group_id=group_id or settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.max_poll_records,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        # New records topics (a new plugin kind) are picked up within seconds.
        metadata_max_age_ms=5000,
    )


def make_admin(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(**kafka_options(settings))


def make_elasticsearch(settings: ElasticsearchSettings) -> Elasticsearch:
    if not settings.hosts:
        raise ConfigError("[elasticsearch] hosts is empty: set it, or run `scrapeline dev up` for the embedded server")
    options: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        # Retries are ours (pipeline.indexer), not the transport's: never retry inside a retry.
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if settings.api_key:
        options["api_key"] = settings.api_key
    elif settings.username:
        options["basic_auth"] = (settings.username, settings.password)
    if settings.api_key or settings.username:
        for host in settings.hosts:
            warn_if_credentials_in_clear("Elasticsearch", host)
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if not settings.verify_certs:
        options["verify_certs"] = False
    return Elasticsearch(list(settings.hosts), **options)


def warn_if_credentials_in_clear(service: str, url: str) -> None:
    """One warning line when credentials would cross the network unencrypted: plain http to a host that is not this machine."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        log.warning("%s credentials go over plain http to %s, readable by anyone on the way: use https://", service, parts.hostname)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
