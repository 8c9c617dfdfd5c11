"""The `scrapeline` command line. Each command wires the packages together; none holds logic of its own."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

from scrapeline.settings import ConfigError, Settings, load_settings

log = logging.getLogger("scrapeline")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("elastic_transport").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings = load_settings(args.config)
        if getattr(args, "workers", None):
            settings = settings.replace("pool", workers=args.workers)
        return int(args.handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure the user can fix is one line, not a traceback
        from scrapeline.errors import user_error

        message = user_error(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


def _common_options(*, defaults: bool) -> argparse.ArgumentParser:
    """--config and --log-level; a subcommand's copy has no defaults, so it never overwrites
    what was given before the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    unset = {} if defaults else {"default": argparse.SUPPRESS}
    common.add_argument("--config", metavar="PATH", help="config file (default: ./config.ini when it exists)", **unset)
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], **({"default": "INFO"} if defaults else unset))
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(defaults=False)
    parser = argparse.ArgumentParser(prog="scrapeline", description=__doc__, parents=[_common_options(defaults=True)])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scrape = commands.add_parser("scrape", parents=[common], help="run one scrape round and publish the records to Kafka")
    mode = scrape.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round of every enabled plugin, then exit (the default)")
    mode.add_argument("--daemon", action="store_true", help="run each plugin on its [plugin:NAME] interval until SIGTERM/SIGINT")
    scrape.add_argument("--rounds", type=_count, metavar="N", help="with --daemon: stop after N rounds of each plugin")
    _add_round_options(scrape)
    scrape.set_defaults(handler=cmd_scrape)

    consume = commands.add_parser("consume", parents=[common], help="index records from Kafka into Elasticsearch")
    consume.add_argument("--until-idle", type=float, metavar="SECONDS", help="exit after this many seconds without a message")
    consume.add_argument("--group", metavar="ID", help="consumer group (default: [kafka] group_id)")
    consume.set_defaults(handler=cmd_consume)

    run = commands.add_parser("run", parents=[common], help="one scrape round, then consume until drained, then a summary")
    _add_round_options(run)
    run.add_argument("--sample", type=int, default=0, metavar="N", help="print N indexed documents per kind at the end")
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", parents=[common], help="the scrape daemons and consumers in Kafka: who holds what, lag, spools")
    status.set_defaults(handler=cmd_status)

    dev = commands.add_parser("dev", parents=[common], help="the embedded Kafka + Elasticsearch (noida-db)")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.set_defaults(handler=cmd_dev)

    plugins = commands.add_parser("plugins", parents=[common], help="list, check or create plugins")
    plugins.set_defaults(handler=cmd_plugins)
    plugin_commands = plugins.add_subparsers(dest="plugin_command", metavar="ACTION")
    check = plugin_commands.add_parser("check", parents=[common], help="render one page and print the records it gives, without Kafka")
    check.add_argument("name")
    check.add_argument("--url", required=True)
    check.add_argument("--save", metavar="DIR", help="save the page's html, screenshot, console log and status into DIR")
    check.set_defaults(handler=cmd_plugins_check)
    new = plugin_commands.add_parser("new", parents=[common], help="write a commented plugin skeleton and its config section")
    new.add_argument("name")
    new.add_argument("--dir", metavar="FOLDER", help="where to write it (default: the first [pool] plugin_paths folder, else ./site_plugins)")
    new.add_argument("--base-url", default="https://example.com")
    new.set_defaults(handler=cmd_plugins_new)

    search = commands.add_parser("search", parents=[common], help="print indexed documents of one kind as a table")
    search.add_argument("kind", help="a record kind, e.g. crypto_quote or food_product")
    search.add_argument("query", nargs="?", default="", help="Lucene syntax as in Kibana: bitcoin, symbol:BTC, price_usd:>1000")
    search.add_argument("--limit", type=int, default=10, metavar="N")
    search.add_argument("--history", action="store_true", help="search every observation, not only the latest per entity")
    search.add_argument("--fields", metavar="A,B", help="columns to show (default: the kind's main fields)")
    search.add_argument("--json", action="store_true", help="print each whole document as one line of JSON instead of a table")
    search.set_defaults(handler=cmd_search)

    topics = commands.add_parser("topics", parents=[common], help="list, create, delete, tail or produce to Kafka topics")
    topic_commands = topics.add_subparsers(dest="topic_command", metavar="ACTION", required=True)
    listing = topic_commands.add_parser("list", parents=[common], help="topics with partitions and message counts")
    listing.add_argument("--all", action="store_true", help="include internal topics")
    listing.set_defaults(handler=cmd_topics_list)
    create = topic_commands.add_parser("create", parents=[common], help="create a topic")
    create.add_argument("name")
    create.add_argument("--partitions", type=int, help="default: [kafka] partitions")
    create.add_argument("--replication-factor", type=int, help="default: [kafka] replication_factor")
    create.set_defaults(handler=cmd_topics_create)
    delete = topic_commands.add_parser("delete", parents=[common], help="delete a topic and its messages")
    delete.add_argument("name")
    delete.set_defaults(handler=cmd_topics_delete)
    tail = topic_commands.add_parser("tail", parents=[common], help="print the last messages of a topic")
    tail.add_argument("topic")
    tail.add_argument("-n", "--last", type=int, default=10, metavar="N", help="messages per partition (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new messages until Ctrl-C")
    tail.set_defaults(handler=cmd_topics_tail)
    produce = topic_commands.add_parser("produce", parents=[common], help="send messages: --value, or one per line of standard input")
    produce.add_argument("topic")
    produce.add_argument("--key")
    produce.add_argument("--value", action="append", help="a message (repeatable); without it, standard input is read")
    produce.set_defaults(handler=cmd_topics_produce)

    dlq = commands.add_parser("dlq", parents=[common], help="the dead-letter topic: what is in it, and sending it back once fixed")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    dlq_list = dlq_commands.add_parser("list", parents=[common], help="dead letters counted by reason")
    dlq_list.set_defaults(handler=cmd_dlq_list)
    dlq_replay = dlq_commands.add_parser("replay", parents=[common], help="send the original messages back to their topics")
    dlq_replay.add_argument("--reason", default="", metavar="TEXT", help="only dead letters whose reason contains TEXT")
    dlq_replay.set_defaults(handler=cmd_dlq_replay)

    kibana = commands.add_parser("kibana", parents=[common], help="Kibana data views and dashboards")
    kibana_commands = kibana.add_subparsers(dest="kibana_command", metavar="ACTION", required=True)
    setup = kibana_commands.add_parser("setup", parents=[common], help="import the data views and dashboards, print their links")
    setup.add_argument("--url", help="Kibana's address (default: [kibana] url)")
    setup.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait this long for Kibana to become available")
    setup.set_defaults(handler=cmd_kibana_setup)
    export = kibana_commands.add_parser("export", parents=[common], help="print the saved objects as NDJSON, for Kibana's import screen")
    export.set_defaults(handler=cmd_kibana_export)

    serve = commands.add_parser("serve", parents=[common], help="serve a folder of saved pages on 127.0.0.1 (a local mirror)")
    serve.add_argument("folder")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)
    return parser


def _count(text: str) -> int:
    """A whole number of 1 or more, for flags that count (argparse turns the error into one line and exit 2)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {number}")
    return number


def _add_round_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", metavar="NAME", help="only this plugin (repeatable)")
    parser.add_argument("--workers", type=_count, metavar="N", help="worker processes (default: [pool] workers)")
    parser.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="PLUGIN=FOLDER",
        help="serve FOLDER on 127.0.0.1 for this run and point the plugin's base_url at it",
    )


def cmd_scrape(args: argparse.Namespace, settings: Settings) -> int:
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import print_round, round_progress
    from scrapeline.rounds import run_daemon, scrape_round

    settings = resolve_servers(settings)
    with ExitStack() as stack:
        settings = _start_mirrors(stack, settings, args.mirror)
        if args.daemon:
            return run_daemon(settings, args.plugin, max_rounds=args.rounds)
        on_result = stack.enter_context(round_progress())
        report = scrape_round(settings, args.plugin, on_result=on_result)
    print_round(report)
    return 1 if report.errors or report.problems else 0


def cmd_consume(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from pipeline.consumer_metrics import consumer_health, consumer_registry
    from scrapeline.catalogue import open_consumer
    from scrapeline.devstack import resolve_servers
    from scrapeline.metrics_server import start_metrics_server
    from scrapeline.report import print_consume

    settings = resolve_servers(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the current batch, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    consumer = open_consumer(settings, group_id=args.group, stop=stop)
    metrics = start_metrics_server(settings.metrics.host, settings.metrics.consumer_port, consumer_registry(consumer), lambda: consumer_health(consumer))
    try:
        stats = consumer.run(until_idle=args.until_idle)
    finally:
        consumer.close()
        if metrics is not None:
            metrics.stop()
    print_consume(stats)
    if consumer.gave_up:
        print(f"error: {consumer.gave_up}", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from scrapeline.catalogue import open_consumer
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import print_consume, print_round, print_sample
    from scrapeline.rounds import round_kinds, scrape_round

    settings = resolve_servers(settings)
    with ExitStack() as stack:
        settings = _start_mirrors(stack, settings, args.mirror)
        report = scrape_round(settings, args.plugin)
    consumer = open_consumer(settings)
    try:
        # Drained = every partition read to its end; the idle limit only guards against a stuck group join.
        stats = consumer.run(drain=True, until_idle=120)
    finally:
        consumer.close()
    print_round(report)
    print_consume(stats)
    if args.sample:
        print_sample(settings, args.sample, round_kinds(settings, report))
    if consumer.gave_up:
        print(f"error: {consumer.gave_up}", file=sys.stderr)
        return 1
    return 1 if report.errors or report.problems else 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from scrapeline.devstack import resolve_servers
    from scrapeline.status import cluster_status, print_status

    settings = resolve_servers(settings)
    print_status(cluster_status(settings), settings.kafka.topic_prefix)
    return 0


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from scrapeline.devstack import dev_down, dev_up, read_state

    if args.action == "up":
        endpoints, started = dev_up(settings)
        print(f"{'started' if started else 'already running'}: kafka {endpoints.kafka}, elasticsearch {endpoints.elasticsearch} (pid {endpoints.pid})")
    elif args.action == "down":
        print("stopped" if dev_down(settings) else "not running")
    else:
        endpoints = read_state(settings)
        if endpoints is None:
            print("not running")
            return 1
        print(f"running: kafka {endpoints.kafka}, elasticsearch {endpoints.elasticsearch} (pid {endpoints.pid})")
    return 0


def cmd_plugins(args: argparse.Namespace, settings: Settings) -> int:
    from scrapeline.report import print_plugins
    from scrapers.registry import discover, unknown_plugin_sections

    registry = discover(settings.pool.plugin_paths)
    for unknown in unknown_plugin_sections(registry, settings):
        log.warning("%s", unknown)
    print_plugins(registry, settings)
    return 1 if registry.problems else 0


def cmd_plugins_check(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from scrapers.jobs import Job
    from scrapers.plugin import Request
    from scrapers.worker import PageWorker

    worker = PageWorker(settings, snapshot_folder=Path(args.save) if args.save else None)
    worker.registry.get(args.name)
    try:
        result = worker.run(Job(args.name, Request(args.url)))
    finally:
        worker.close()
    for record in result.records:
        print(json.dumps({"id": record.id, "url": record.url, **record.record}, ensure_ascii=False))
    for request in result.follow:
        print(f"follow: {request.url}", file=sys.stderr)
    for reason, record in result.invalid:
        print(f"invalid record: {reason}: {record}", file=sys.stderr)
    phases = ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in result.timings.items())
    print(f"{len(result.records)} records, {len(result.follow)} links to follow, {len(result.invalid)} invalid, "
          f"{result.seconds:.1f} s" + (f" ({phases})" if phases else ""), file=sys.stderr)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    if result.snapshot:
        from scrapers.snapshots import FILES

        saved = ", ".join(name for name in FILES if (Path(result.snapshot) / name).exists())
        print(f"saved {saved} in {result.snapshot}", file=sys.stderr)
    return 1 if result.error or result.invalid else 0


def cmd_plugins_new(args: argparse.Namespace, settings: Settings) -> int:
    import re

    from scrapers.scaffold import config_section, write_skeleton

    if not re.match(r"^[a-z][a-z0-9_]*$", args.name):
        raise ConfigError(f"plugin name {args.name!r}: use lower-case letters, digits and _, starting with a letter")
    folder = Path(args.dir or (settings.pool.plugin_paths[0] if settings.pool.plugin_paths else "site_plugins"))
    path = write_skeleton(args.name, folder, args.base_url)
    print(f"wrote {path}")
    section = config_section(args.name, args.base_url)
    config = Path(args.config or "config.ini")
    if config.is_file() and f"[plugin:{args.name}]" not in config.read_text():
        with config.open("a") as handle:
            handle.write(section)
        print(f"added [plugin:{args.name}] to {config}")
    else:
        print(f"add this to your config.ini:{section}")
    if str(folder) not in settings.pool.plugin_paths and folder.resolve() != Path("plugins").resolve():
        print(f"and list the folder in config.ini: [pool] plugin_paths = {folder}")
    print(f"then: scrapeline plugins check {args.name} --url {args.base_url}")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.clients import make_elasticsearch
    from pipeline.search import search_kind
    from scrapeline.catalogue import current_schemas
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import print_documents_json, print_search

    settings = resolve_servers(settings)
    schemas = current_schemas(settings)
    if args.kind not in schemas:
        raise ConfigError(f"no plugin declares the kind {args.kind!r} (known: {', '.join(sorted(schemas)) or 'none'})")
    if args.limit < 1:
        raise ConfigError("--limit: expected a positive number")
    client = make_elasticsearch(settings.elasticsearch)
    total, documents = search_kind(client, settings.elasticsearch.index_prefix, args.kind, args.query, limit=args.limit, history=args.history)
    if args.json:
        print_documents_json(documents)
        return 0
    fields = [name.strip() for name in args.fields.split(",") if name.strip()] if args.fields else None
    print_search(args.kind, schemas[args.kind], total, documents, fields)
    return 0


def cmd_topics_list(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.topics import list_topics
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import print_topics

    print_topics(list_topics(resolve_servers(settings).kafka, internal=args.all))
    return 0


def cmd_topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.topics import create_topic
    from scrapeline.devstack import resolve_servers

    create_topic(resolve_servers(settings).kafka, args.name, args.partitions, args.replication_factor)
    print(f"created {args.name}")
    return 0


def cmd_topics_delete(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.topics import delete_topic
    from scrapeline.devstack import resolve_servers

    delete_topic(resolve_servers(settings).kafka, args.name)
    print(f"deleted {args.name}")
    return 0


def cmd_topics_tail(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.topics import tail
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import format_message

    for message in tail(resolve_servers(settings).kafka, args.topic, args.last, follow=args.follow):
        print(format_message(message), flush=True)
    return 0


def cmd_topics_produce(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.topics import produce
    from scrapeline.devstack import resolve_servers

    # Standard input is bytes, passed through as they are (as kafka-console-producer does): a message need not be UTF-8.
    values = [value.encode() for value in args.value] if args.value else [line.rstrip(b"\r\n") for line in sys.stdin.buffer if line.strip()]
    sent = produce(resolve_servers(settings).kafka, args.topic, values, key=args.key.encode() if args.key else None)
    print(f"sent {sent} messages to {args.topic}")
    return 0


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.dead_letters import read_dead_letters, reasons
    from scrapeline.devstack import resolve_servers
    from scrapeline.report import print_counts

    kafka = resolve_servers(settings).kafka
    counts = reasons(read_dead_letters(kafka))
    if not counts:
        print(f"no dead letters: {kafka.topic_prefix}.dlq is empty or does not exist yet")
        return 0
    print_counts("dead letters", "reason", counts)
    return 0


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.dead_letters import read_dead_letters, replay
    from scrapeline.devstack import resolve_servers

    kafka = resolve_servers(settings).kafka
    sent = replay(kafka, read_dead_letters(kafka), args.reason)
    for topic, count in sorted(sent.items()):
        print(f"sent {count} messages back to {topic}")
    if not sent:
        print("no dead letter matched")
    return 0


def cmd_kibana_setup(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kibana import setup_kibana

    if args.url:
        settings = settings.replace("kibana", url=args.url)
    links = setup_kibana(settings.kibana, settings.elasticsearch.index_prefix, wait=args.wait)
    print(f"imported the scrapeline data views and dashboards into {settings.kibana.url}")
    for title, link in links:
        print(f"  {title}: {link}")
    return 0


def cmd_kibana_export(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.kibana_objects import saved_objects, to_ndjson

    sys.stdout.write(to_ndjson(saved_objects(settings.elasticsearch.index_prefix)))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from scrapeline.mirror import MirrorServer

    with MirrorServer(args.folder, port=args.port) as server:
        print(f"serving {args.folder} at {server.url}/ (Ctrl-C stops)")
        while True:
            time.sleep(3600)


def _start_mirrors(stack: ExitStack, settings: Settings, mirrors: list[str]) -> Settings:
    from scrapeline.mirror import MirrorServer

    for spec in mirrors:
        plugin, sep, folder = spec.partition("=")
        if not sep or not plugin or not folder:
            raise ConfigError(f"--mirror {spec!r}: expected PLUGIN=FOLDER")
        if not Path(folder).is_dir():
            raise ConfigError(f"--mirror {spec!r}: no folder {folder}")
        server = stack.enter_context(MirrorServer(folder))
        log.info("serving %s at %s for plugin %s", folder, server.url, plugin)
        settings = settings.with_plugin_values(plugin, base_url=server.url)
    return settings


if __name__ == "__main__":
    sys.exit(main())
