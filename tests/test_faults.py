"""Pages that hang, answer 429, or lose their browser mid-load end with the same records as a clean run."""

import os
import signal
import threading

import psutil
import pytest

from faulty_site import FaultySite
from scrapers.pool import ScrapePool

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture
def faulty():
    site = FaultySite()
    yield site
    site.stop()


def scrape(settings, base_url, workers=1, job_timeout=180.0):
    settings = settings.replace("pool", retries=2, workers=workers, job_timeout=job_timeout)
    settings = settings.replace("browser", page_load_timeout=3.0)
    settings = settings.with_plugin_values("coinmarketcap", base_url=base_url, wait_timeout="5")
    records = []
    with ScrapePool(settings, records.append) as pool:
        report = pool.run_round(["coinmarketcap"])
    return report.plugins["coinmarketcap"], records


def pool_workers():
    """This test process's pool workers (the session's noida-db is a child too, and must be left alone)."""
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline()) and os.getpgid(p.pid) == p.pid]


def comparable(records):
    """The records without their scrape time, by id; asserts there are no duplicates."""
    by_id = {r.id: (r.url, dict(r.record)) for r in records}
    assert len(by_id) == len(records)
    return by_id


@pytest.fixture
def clean_run(settings, faulty):
    stats, records = scrape(settings, f"{faulty.url}/clean")
    assert (stats.records, stats.errors, stats.retries) == (101, 0, 0)
    return {key: value[1] for key, value in comparable(records).items()}


@pytest.mark.parametrize("path, retries", [("hang-once", 1), ("429-twice", 2)])
def test_a_failing_page_is_retried_until_it_answers(settings, faulty, clean_run, path, retries):
    stats, records = scrape(settings, f"{faulty.url}/{path}")
    assert (stats.pages, stats.records, stats.errors, stats.retries) == (1, 101, 0, retries)
    assert {key: value[1] for key, value in comparable(records).items()} == clean_run
    assert faulty.hits[f"/{path}/"] == retries + 1


def test_a_browser_killed_mid_page_is_replaced_and_the_page_tried_again(settings, faulty, clean_run):
    def kill_browser_when_loading():
        faulty.slow_request_seen.wait(60)
        for worker in pool_workers():
            for process in worker.children(recursive=True):
                if process.name() in ("chromium", "chrome"):
                    process.kill()

    killer = threading.Thread(target=kill_browser_when_loading)
    killer.start()
    stats, records = scrape(settings, f"{faulty.url}/slow")
    killer.join()
    assert (stats.records, stats.errors) == (101, 0)
    assert stats.retries >= 1
    assert {key: value[1] for key, value in comparable(records).items()} == clean_run


def test_a_page_that_never_recovers_fails_after_the_retries_and_is_reported(settings, faulty):
    failures = []
    settings = settings.replace("pool", retries=1)
    settings = settings.with_plugin_values("coinmarketcap", base_url=f"{faulty.url}/missing")
    with ScrapePool(settings, lambda record: None, on_failure=failures.append) as pool:
        report = pool.run_round(["coinmarketcap"])
    assert report.plugins["coinmarketcap"].errors == 1
    assert [(f.plugin, f.url, f.attempts) for f in failures] == [("coinmarketcap", f"{faulty.url}/missing/", 1)]
    assert failures[0].error.endswith("HTTP 404")  # a 404 is not retried


def test_a_worker_process_killed_mid_page_is_replaced_and_its_page_handed_out_again(settings, faulty, clean_run):
    def kill_workers_when_loading():
        faulty.slow_request_seen.wait(60)
        for process in pool_workers():
            os.killpg(process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_workers_when_loading)
    killer.start()
    stats, records = scrape(settings, f"{faulty.url}/slow")
    killer.join()
    assert (stats.records, stats.errors, stats.retries) == (101, 0, 1)
    assert {key: value[1] for key, value in comparable(records).items()} == clean_run


def test_a_hung_worker_is_replaced_after_the_job_timeout(settings, faulty, clean_run):
    def freeze_workers_when_loading():
        faulty.slow_request_seen.wait(60)
        for process in pool_workers():
            process.suspend()  # SIGSTOP: alive, but never answers again

    freezer = threading.Thread(target=freeze_workers_when_loading)
    freezer.start()
    stats, records = scrape(settings, f"{faulty.url}/slow", job_timeout=8.0)
    freezer.join()
    assert (stats.records, stats.errors, stats.retries) == (101, 0, 1)
    assert {key: value[1] for key, value in comparable(records).items()} == clean_run
