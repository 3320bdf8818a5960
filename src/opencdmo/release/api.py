"""Disposition over HTTP. Thin: selectors and services do the work."""

from ninja import Router

router = Router(tags=["Disposition"])
