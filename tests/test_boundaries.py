"""Data flows one way; so do imports. Checked in a fresh interpreter each."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "modules, forbidden",
    [
        (
            ["pipeline.consumer", "pipeline.publisher", "pipeline.indexer", "pipeline.normalise", "pipeline.dead_letters",
             "pipeline.search", "pipeline.topics", "pipeline.kibana", "pipeline.consumer_metrics", "pipeline.round_reports",
             "pipeline.frontier"],
            ["selenium", "scrapers", "plugins"],
        ),  # fmt: skip
        (["plugins.coinmarketcap", "scrapers"], ["selenium", "kafka", "elasticsearch", "pipeline"]),
        (["scrapers.pool", "scrapers.worker", "scrapers.daemon", "scrapers.frontier"], ["kafka", "elasticsearch", "pipeline"]),
    ],
)
def test_packages_do_not_import_downstream(modules, forbidden):
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + (
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(forbidden)!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
