"""The commands a user types, run as the user runs them."""

from dev_env import produce, scrapeline, server_env


def food_envelope(code):
    from pipeline.envelope import encode
    from scrapeline.records import ScrapedRecord

    return encode(ScrapedRecord("openfoodfacts", "food_product", f"openfoodfacts:{code}", f"http://x/product/{code}", "2026-11-22T10:00:00Z", {"code": code}))


def test_run_against_the_bundled_mirror_prints_the_summary_and_a_sample(settings, chromium):
    # A record of a plugin that does not run this time is indexed too, but is not sampled.
    produce(settings, [food_envelope("3017620422003")], kind="food_product")
    done = scrapeline("run", "--plugin", "coinmarketcap", "--mirror", "coinmarketcap=tests/fixtures/sites/coinmarketcap", "--sample", "2", env=server_env(settings))
    assert done.returncode == 0, done.stderr
    assert "coinmarketcap │     1 │     101 │      0" in done.stdout
    assert "consumed 102 messages: 102 indexed (0 older than the latest), 0 dead-lettered" in done.stdout
    assert "101 documents of kind crypto_quote" in done.stdout
    assert "food_product" not in done.stdout


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
    assert done.stderr.strip().splitlines()[-1] == "error: no plugin named 'nope' (known: coingecko, coinmarketcap, openfoodfacts, quotes)"


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
    # The whole server is gone, not just the `noida-db` wrapper process.
    import psutil

    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "data") in " ".join(p.info["cmdline"] or [])]
    assert left == []
    status = scrapeline("dev", "status", "--config", str(config))
    assert status.returncode == 1 and status.stdout.strip() == "not running"


def test_plugins_new_writes_a_working_skeleton_and_check_renders_one_page(tmp_path, sites, chromium):
    (tmp_path / "config.ini").write_text("[pool]\nplugin_paths = my_plugins\n")
    new = scrapeline("plugins", "new", "shop_prices", cwd=tmp_path)
    assert new.returncode == 0, new.stderr
    assert (tmp_path / "my_plugins" / "shop_prices.py").is_file()
    assert "[plugin:shop_prices]" in (tmp_path / "config.ini").read_text()
    listed = scrapeline("plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "shop_prices" in listed.stdout and "file my_plugins/shop_prices.py" in listed.stdout
    assert "│ quotes " in listed.stdout and "│ no " in listed.stdout  # the test package is off by default
    again = scrapeline("plugins", "new", "shop_prices", cwd=tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr and "Traceback" not in again.stderr

    check = scrapeline("plugins", "check", "coinmarketcap", "--url", f"{sites.url}/coinmarketcap-table/", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    lines = check.stdout.splitlines()
    assert len(lines) == 101 and '"slug": "bitcoin"' in check.stdout
    assert "101 records, 0 links to follow, 0 invalid" in check.stderr


def test_config_and_log_level_work_before_or_after_the_subcommand(tmp_path):
    from scrapeline.cli import build_parser

    bad = tmp_path / "bad.ini"
    bad.write_text("[pool]\ncolour = red\n")
    for args in (("--config", str(bad), "plugins"), ("plugins", "--config", str(bad))):
        done = scrapeline(*args)
        assert done.returncode == 2, args
        assert done.stderr.startswith("error: bad.ini [pool] colour: unknown key in [pool]"), args
    parser = build_parser()
    for argv in (["--log-level", "DEBUG", "dev", "status"], ["dev", "status", "--log-level", "DEBUG"]):
        assert parser.parse_args(argv).log_level == "DEBUG"
    assert parser.parse_args(["dev", "status"]).log_level == "INFO"
    assert parser.parse_args(["--config", "a.ini", "plugins", "check", "x", "--url", "u"]).config == "a.ini"
