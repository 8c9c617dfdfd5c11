import subprocess
import sys

import pytest

from scrapeline.settings import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "config.ini"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.pool.workers == 2
    assert settings.kafka.bootstrap_servers == ()
    assert settings.source == "defaults"


def test_file_then_environment(tmp_path):
    path = write(tmp_path, "[pool]\nworkers = 3\n[kafka]\nbootstrap_servers = a:9092, b:9092\n[plugin:coinmarketcap]\npages = 4\n")
    settings = load_settings(path, environ={"SCRAPELINE_POOL__WORKERS": "5", "SCRAPELINE_PLUGIN_COINMARKETCAP__BASE_URL": "http://x"})
    assert settings.pool.workers == 5
    assert settings.kafka.bootstrap_servers == ("a:9092", "b:9092")
    assert settings.plugins["coinmarketcap"] == {"pages": "4", "base_url": "http://x"}


@pytest.mark.parametrize(
    "text, environ, message",
    [
        ("[pool]\nworkers = many\n", {}, "config.ini [pool] workers: expected a whole number, got 'many'"),
        ("[browser]\nheadless = sometimes\n", {}, "config.ini [browser] headless: expected true or false"),
        ("[pool]\nworkerz = 2\n", {}, "config.ini [pool] workerz: unknown key in [pool]"),
        ("[poool]\nworkers = 2\n", {}, "unknown section [poool]"),
        ("", {"SCRAPELINE_BROWSER__PAGE_LOAD_TIMEOUT": "soon"}, "environment SCRAPELINE_BROWSER__PAGE_LOAD_TIMEOUT: expected a number"),
        ("[plugin:Bad-Name]\nx = 1\n", {}, "[plugin:Bad-Name]: plugin names are lower-case"),
        ("[pool\nworkers=1\n", {}, "config.ini"),
    ],
)
def test_bad_values_name_section_and_key(tmp_path, text, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=environ)
    assert message in str(caught.value)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "nope.ini", environ={})


def test_cli_reports_a_bad_setting_in_one_line(tmp_path):
    path = write(tmp_path, "[pool]\nworkers = many\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "plugins", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: config.ini [pool] workers: expected a whole number, got 'many'"


def test_cli_reports_a_bad_plugin_setting_in_one_line(tmp_path):
    path = write(tmp_path, "[plugin:coinmarketcap]\npages = two\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "plugins", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: [plugin:coinmarketcap] pages: expected a whole number, got 'two'"


def test_commands_need_servers_or_the_embedded_stack(tmp_path):
    path = write(tmp_path, f"[pool]\ndata_dir = {tmp_path / 'data'}\n")
    done = subprocess.run([sys.executable, "-m", "scrapeline.cli", "consume", "--config", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "no embedded stack is running: run `scrapeline dev up` first" in done.stderr
    assert "Traceback" not in done.stderr


def scrapeline_cli(*args):
    return subprocess.run([sys.executable, "-m", "scrapeline.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[pool]\nspool_max_mb = -1\n", "config.ini [pool] spool_max_mb: expected 1 or more, got -1"),
        ("[pool]\njob_timeout = -1\n", "config.ini [pool] job_timeout: expected more than 0, got -1.0"),
        ("[pool]\nworkers = 0\n", "config.ini [pool] workers: expected 1 or more, got 0"),
        ("[kafka]\nmax_poll_records = 0\n", "config.ini [kafka] max_poll_records: expected 1 or more, got 0"),
        ("[kafka]\npartitions = -3\n", "config.ini [kafka] partitions: expected 1 or more, got -3"),
        ("[metrics]\nconsumer_port = 99999\n", "config.ini [metrics] consumer_port: expected 65535 or less, got 99999"),
        ("[browser]\npage_load_timeout = nan\n", "config.ini [browser] page_load_timeout: expected a finite number, got 'nan'"),
        ("[browser]\npage_load_timeout = inf\n", "config.ini [browser] page_load_timeout: expected a finite number, got 'inf'"),
        ("[browser]\npage_load_timeout = 0\n", "config.ini [browser] page_load_timeout: expected more than 0, got 0.0"),
    ],
)
def test_values_out_of_bounds_name_section_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert str(caught.value) == message


def test_bounds_hold_for_environment_overrides_and_replace(tmp_path):
    with pytest.raises(ConfigError, match=r"^environment SCRAPELINE_POOL__SPOOL_MAX_MB: expected 1 or more, got 0$"):
        load_settings(write(tmp_path, ""), environ={"SCRAPELINE_POOL__SPOOL_MAX_MB": "0"})
    with pytest.raises(ConfigError, match=r"^\[pool\] workers: expected 1 or more, got 0$"):
        load_settings(write(tmp_path, ""), environ={}).replace("pool", workers=0)


def test_cli_rejects_a_negative_plugin_count_in_one_line(tmp_path):
    done = scrapeline_cli("plugins", "--config", str(write(tmp_path, "[plugin:coinmarketcap]\npages = -1\n")))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: [plugin:coinmarketcap] pages: expected 0 or more, got -1"


def test_cli_rejects_zero_workers(tmp_path):
    done = scrapeline_cli("scrape", "--once", "--workers", "0", "--config", str(write(tmp_path, "")))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "scrapeline scrape: error: argument --workers: expected 1 or more, got 0"


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "config.ini"
    path.write_bytes(b"[pool]\nworkers = 2\n# caf\xe9\n")
    done = scrapeline_cli("plugins", "--config", str(path))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path} line 3: not valid UTF-8 (byte 0xe9); save the file as UTF-8"


def test_a_section_for_a_plugin_that_does_not_exist_is_a_warning_with_the_known_names(tmp_path):
    done = scrapeline_cli("plugins", "--config", str(write(tmp_path, "[plugin:coinmarkettcap]\npages = 2\n")))
    assert done.returncode == 0, done.stderr
    assert "WARNING scrapeline: [plugin:coinmarkettcap]: no plugin of that name; the section is ignored " \
           "(known: coingecko, coinmarketcap, openfoodfacts, quotes)" in done.stderr
