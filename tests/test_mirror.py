import urllib.error
import urllib.request

import pytest

from scrapeline.mirror import MirrorServer


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("path", ["/%00", "/a%00b.html", "/index.html?page=%00", "/?x=%00", "/sub%00/"])
def test_a_nul_byte_in_the_url_is_a_bad_request_and_the_mirror_goes_on(tmp_path, capsys, path):
    (tmp_path / "index.html").write_text("<p>hi</p>")
    with MirrorServer(tmp_path) as server:
        assert status(server.url + path) == 400
        assert status(server.url + "/%2500") == 404  # an escaped percent sign is an ordinary (missing) name
        assert status(server.url + "/") == 200
    assert "Traceback" not in capsys.readouterr().err
