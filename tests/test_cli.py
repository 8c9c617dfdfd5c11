"""The commands a user types, run as the user runs them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def scrapeline(*args, env=None, cwd=ROOT, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "scrapeline.cli", *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout
    )


def server_env(settings):
    return {
        "SCRAPELINE_KAFKA__BOOTSTRAP_SERVERS": ",".join(settings.kafka.bootstrap_servers),
        "SCRAPELINE_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "SCRAPELINE_KAFKA__GROUP_ID": settings.kafka.group_id,
        "SCRAPELINE_ELASTICSEARCH__HOSTS": ",".join(settings.elasticsearch.hosts),
        "SCRAPELINE_ELASTICSEARCH__INDEX_PREFIX": settings.elasticsearch.index_prefix,
        "SCRAPELINE_POOL__DATA_DIR": settings.pool.data_dir,
    }


def test_run_against_the_bundled_mirror_prints_the_summary_and_a_sample(settings, chromium):
    done = scrapeline("run", "--mirror", "coinmarketcap=tests/fixtures/sites/coinmarketcap", "--sample", "2", env=server_env(settings))
    assert done.returncode == 0, done.stderr
    assert "coinmarketcap │     1 │     101 │      0" in done.stdout
    assert "consumed 101 messages: 101 indexed, 0 dead-lettered" in done.stdout
    assert "101 documents of kind crypto_quote" in done.stdout


def test_scrape_then_consume_as_separate_commands(settings, chromium):
    env = {**server_env(settings), "SCRAPELINE_PLUGIN_COINMARKETCAP__PAGES": "2"}
    scraped = scrapeline("scrape", "--once", "--plugin", "coinmarketcap", "--workers", "2", "--mirror", "coinmarketcap=tests/fixtures/sites/coinmarketcap", env=env)
    assert scraped.returncode == 0, scraped.stderr
    assert "coinmarketcap │     2 │     201 │      0" in scraped.stdout
    consumed = scrapeline("consume", "--until-idle", "5", env=env)
    assert consumed.returncode == 0, consumed.stderr
    assert "201 indexed" in consumed.stdout


def test_unknown_plugin_is_a_one_line_error(settings):
    done = scrapeline("scrape", "--once", "--plugin", "nope", env=server_env(settings))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: no plugin named 'nope' (known: coinmarketcap)"


def test_dev_up_status_down(tmp_path, noida):
    config = tmp_path / "config.ini"
    config.write_text(f"[pool]\ndata_dir = {tmp_path / 'data'}\n")
    up = scrapeline("dev", "up", "--config", str(config))
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("started: kafka 127.0.0.1:")
    again = scrapeline("dev", "up", "--config", str(config))
    assert again.stdout.startswith("already running")
    status = scrapeline("dev", "status", "--config", str(config))
    assert status.returncode == 0 and status.stdout.startswith("running")
    down = scrapeline("dev", "down", "--config", str(config))
    assert down.stdout.strip() == "stopped"
    status = scrapeline("dev", "status", "--config", str(config))
    assert status.returncode == 1 and status.stdout.strip() == "not running"
