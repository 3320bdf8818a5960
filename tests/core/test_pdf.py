"""The PDF renderer reads the app's own static files from disk and fetches nothing else."""

import pytest

from opencdmo.core.pdf import _OwnStaticFiles


def test_the_print_stylesheet_is_read_from_disk_whatever_the_host():
    response = _OwnStaticFiles().fetch("http://testserver/static/opencdmo/print.css")
    assert b"@page" in response.read()
    assert response.headers["Content-Type"] == "text/css"


@pytest.mark.parametrize("url", ["http://example.org/tracker.png", "http://testserver/static/no-such-file.css",
                                 "file:///etc/passwd"])
def test_anything_else_is_refused(url):
    with pytest.raises(ValueError, match="only use the application's own static files"):
        _OwnStaticFiles().fetch(url)
