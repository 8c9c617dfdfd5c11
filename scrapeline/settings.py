"""Every scrapeline setting, its default and its type, in one place.

Settings are filled in this order: the defaults below -> ``config.ini`` ->
environment variables ``SCRAPELINE_<SECTION>__<KEY>`` (plugin sections:
``SCRAPELINE_PLUGIN_<NAME>__<KEY>``) -> command-line flags. They are checked
once, at load; a bad value or unknown key raises :class:`ConfigError` whose
message names the section and key.

Plugin sections (``[plugin:NAME]``) are kept as raw strings here and checked
against the defaults each plugin declares when the registry binds it
(see :func:`coerce_value`).
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, get_type_hints

ENV_PREFIX = "SCRAPELINE_"
PLUGIN_SECTION_PREFIX = "plugin:"
_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A setting is missing, unknown or of the wrong type; the message names where."""


@dataclass(frozen=True)
class KafkaSettings:
    # Empty means "use the embedded stack started by `scrapeline dev up`".
    bootstrap_servers: tuple[str, ...] = ()
    topic_prefix: str = "scrapeline"
    partitions: int = 3
    replication_factor: int = 1
    group_id: str = "scrapeline-indexer"
    client_id: str = "scrapeline"
    linger_ms: int = 20
    request_timeout_ms: int = 30000
    max_poll_records: int = 500
    # A consumer that does not poll for this long leaves its group; the indexer keeps polling
    # (paused) while Elasticsearch is down, so this only bounds one bulk request.
    max_poll_interval_ms: int = 300000
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""


@dataclass(frozen=True)
class ElasticsearchSettings:
    # Empty means "use the embedded stack started by `scrapeline dev up`".
    hosts: tuple[str, ...] = ()
    index_prefix: str = "scrapeline"
    username: str = ""
    password: str = ""
    api_key: str = ""
    ca_certs: str = ""
    verify_certs: bool = True
    request_timeout: float = 30.0
    bulk_chunk_size: int = 500
    # 429 handling inside one bulk call, as in helpers.streaming_bulk.
    bulk_max_retries: int = 5
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    # History indices (kinds whose schema keeps history) are cut by: day, month or year.
    history_partition: str = "month"
    # Of each new index (set in the kind's index template). A single-node cluster needs 0 replicas to be green.
    number_of_shards: int = 1
    number_of_replicas: int = 1

    def __post_init__(self) -> None:
        if self.history_partition not in ("day", "month", "year"):
            raise ConfigError(f"[elasticsearch] history_partition: expected day, month or year, got {self.history_partition!r}")


@dataclass(frozen=True)
class KibanaSettings:
    """Where `scrapeline kibana setup` imports the dashboards."""

    url: str = ""
    # A Kibana space other than the default one.
    space: str = ""
    username: str = ""
    password: str = ""
    api_key: str = ""
    request_timeout: float = 30.0


@dataclass(frozen=True)
class BrowserSettings:
    driver_path: str = ""
    binary_path: str = ""
    remote_url: str = ""
    headless: bool = True
    page_load_timeout: float = 30.0
    script_timeout: float = 30.0
    user_agent: str = ""
    window_size: str = "1366,900"
    extra_args: tuple[str, ...] = ()
    # A worker's browser is replaced after this many pages, or once its memory (proportional set size,
    # shared pages counted once) passes max_rss_mb.
    max_pages: int = 200
    max_rss_mb: int = 1500


@dataclass(frozen=True)
class PoolSettings:
    workers: int = 2
    retries: int = 2
    plugin_paths: tuple[str, ...] = ()
    data_dir: str = ".scrapeline"
    # A job that takes longer than this is treated as a hung worker.
    job_timeout: float = 180.0
    # Politeness towards each site (host), whatever the plugin: pages loading at once, and per minute (0: no limit).
    domain_concurrency: int = 2
    domain_requests_per_minute: float = 0.0
    # Seconds the daemon gives pages in flight to finish after SIGTERM/SIGINT.
    shutdown_timeout: float = 30.0
    # Seconds between the daemon's statistics log lines.
    log_interval: float = 60.0
    # The on-disk spool that keeps records while Kafka is unreachable; scraping waits when it is full.
    spool_max_mb: int = 1024


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus /metrics and /healthz of the scrape daemon (port) and the consumer (consumer_port). 0 turns one off."""

    host: str = "127.0.0.1"
    port: int = 9464
    consumer_port: int = 9465


@dataclass(frozen=True)
class DevSettings:
    """The embedded noida-db stack (`scrapeline dev up`). Port 0 picks a free one."""

    noida_binary: str = ""
    kafka_port: int = 0
    elasticsearch_port: int = 0


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    kibana: KibanaSettings = field(default_factory=KibanaSettings)
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    dev: DevSettings = field(default_factory=DevSettings)
    # [plugin:NAME] -> {key: raw string}; typed by the plugin's declared defaults.
    plugins: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = "defaults"

    @property
    def data_dir(self) -> Path:
        return Path(self.pool.data_dir)

    def replace(self, section: str, **changes: Any) -> "Settings":
        """A copy with some keys of one section changed (used for CLI flags)."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})

    def with_plugin_values(self, plugin: str, **values: str) -> "Settings":
        merged = {name: dict(section) for name, section in self.plugins.items()}
        merged.setdefault(plugin, {}).update(values)
        return dataclasses.replace(self, plugins=merged)


SECTIONS: dict[str, type] = {
    "kafka": KafkaSettings,
    "elasticsearch": ElasticsearchSettings,
    "kibana": KibanaSettings,
    "browser": BrowserSettings,
    "pool": PoolSettings,
    "metrics": MetricsSettings,
    "dev": DevSettings,
}


def coerce_value(raw: str, target: Any, where: str) -> Any:
    """Turn the string ``raw`` into the type of ``target`` (a type, or a default value)."""
    kind = target if isinstance(target, type) or _is_tuple_hint(target) else type(target)
    text = raw.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {raw!r}") from None
    if kind is tuple or _is_tuple_hint(kind):
        return tuple(part.strip() for part in re.split(r"[,\n]", text) if part.strip())
    if kind is str:
        return text
    raise ConfigError(f"{where}: settings of type {kind!r} are not supported")


def _is_tuple_hint(hint: Any) -> bool:
    return getattr(hint, "__origin__", None) is tuple


def load_settings(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from ``path`` (``config.ini`` in the working folder when it exists) and the environment."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, str]] = {}
    origin: dict[tuple[str, str], str] = {}
    source = "defaults"
    config_path = Path(path) if path is not None else Path("config.ini")
    if path is not None and not config_path.is_file():
        raise ConfigError(f"{config_path}: no such config file")
    if config_path.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(config_path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{config_path}: {exc.message.splitlines()[0]}") from None
        for section in parser.sections():
            for key, value in parser.items(section, raw=True):
                raw.setdefault(section, {})[key] = value
                origin[(section, key)] = f"{config_path.name} [{section}] {key}"
        source = str(config_path)
    for name, value in environ.items():
        located = _section_key_from_env(name)
        if located is None:
            continue
        section, key = located
        raw.setdefault(section, {})[key] = value
        origin[(section, key)] = f"environment {name}"

    built: dict[str, Any] = {}
    plugins: dict[str, dict[str, str]] = {}
    for section, values in raw.items():
        if section.startswith(PLUGIN_SECTION_PREFIX):
            name = section[len(PLUGIN_SECTION_PREFIX):]
            if not _PLUGIN_NAME.match(name):
                raise ConfigError(f"[{section}]: plugin names are lower-case letters, digits and _")
            plugins[name] = dict(values)
            continue
        cls = SECTIONS.get(section)
        if cls is None:
            known = ", ".join(f"[{s}]" for s in SECTIONS)
            where = origin[(section, next(iter(values)))]
            raise ConfigError(f"{where}: unknown section [{section}] (known: {known}, [plugin:NAME])")
        hints = get_type_hints(cls)
        typed = {}
        for key, value in values.items():
            where = origin[(section, key)]
            if key not in hints:
                known_keys = ", ".join(hints)
                raise ConfigError(f"{where}: unknown key in [{section}] (known: {known_keys})")
            typed[key] = coerce_value(value, hints[key], where)
        built[section] = cls(**typed)
    return Settings(**built, plugins=plugins, source=source)


def _section_key_from_env(name: str) -> tuple[str, str] | None:
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    head, key = name[len(ENV_PREFIX):].split("__", 1)
    head, key = head.lower(), key.lower()
    if head.startswith("plugin_"):
        return f"{PLUGIN_SECTION_PREFIX}{head[len('plugin_'):]}", key
    return head, key
