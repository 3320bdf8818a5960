"""Settings for the benchmarks: the product's settings plus the bench-only app and
django-simple-history (the peer library bench/audit.py compares against)."""

from opencdmo.settings import *  # noqa: F403
from opencdmo.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "simple_history", "benchapp"]
