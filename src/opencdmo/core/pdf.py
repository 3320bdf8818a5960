"""The one PDF renderer: the same templates as the pages, with the print stylesheet."""

from django.template.loader import render_to_string
from weasyprint import HTML


def render_pdf(template: str, context: dict, *, request=None) -> bytes:
    html = render_to_string(template, context, request=request)
    base_url = request.build_absolute_uri("/") if request is not None else None
    return HTML(string=html, base_url=base_url).write_pdf()
