"""Bench-only models (never installed by the product): the audited record shape, plain and
with django-simple-history, for bench/audit.py."""
