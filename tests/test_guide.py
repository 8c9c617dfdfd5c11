"""docs/writing-a-plugin.md stays true: its plugin, written to a file as the guide says, gives records."""

import json
import re

import pytest

from conftest import SITES
from dev_env import ROOT, scrapeline
from scrapeline.mirror import MirrorServer


@pytest.mark.usefixtures("chromium")
def test_the_guide_plugin_works_as_written(tmp_path):
    guide = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    code = re.search(r"Now replace the body of the class so the file reads:\n\n```python\n(.*?)```", guide, re.S).group(1)
    (tmp_path / "my_plugins").mkdir()
    (tmp_path / "my_plugins" / "famous_quotes.py").write_text(code)
    (tmp_path / "config.ini").write_text("[pool]\nplugin_paths = my_plugins\n")
    with MirrorServer(SITES / "quotes") as site:
        check = scrapeline("plugins", "check", "famous_quotes", "--url", f"{site.url}/", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    records = [json.loads(line) for line in check.stdout.splitlines()]
    assert [r["author"] for r in records] == ["Albert Einstein", "J.K. Rowling"]
    assert f"follow: {site.url}/page/2/" in check.stderr
