"""The one PDF renderer: the same templates as the pages, with the print stylesheet."""

import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse


class _OwnStaticFiles(URLFetcher):
    """The app's own static files, read from disk: a PDF never makes an HTTP request (to this
    server or any other), so it renders the same offline, in tests and behind a proxy."""

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        path = urlsplit(url).path
        if path.startswith(settings.STATIC_URL) and (found := finders.find(path[len(settings.STATIC_URL):])):
            return URLFetcherResponse(url, body=Path(found).read_bytes(),
                                      headers={"Content-Type": mimetypes.guess_type(found)[0] or "text/plain"})
        raise ValueError(f"a PDF may only use the application's own static files, not {url[:100]}")


def render_pdf(template: str, context: dict, *, request=None) -> bytes:
    html = render_to_string(template, context, request=request)
    base_url = request.build_absolute_uri("/") if request is not None else "http://localhost/"
    return HTML(string=html, base_url=base_url, url_fetcher=_OwnStaticFiles()).write_pdf()
