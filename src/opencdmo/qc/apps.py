from django.apps import AppConfig


class QcConfig(AppConfig):
    name = "opencdmo.qc"
    verbose_name = "QC laboratory"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: F401, PLC0415

        from . import selectors, services, workflows  # noqa: F401, PLC0415

        # ===== methods and specifications =====
        # ===== end methods and specifications =====
        # ===== samples and results =====
        # ===== end samples and results =====
        # ===== OOS investigations =====
        # ===== end OOS investigations =====
        # ===== stability =====
        # ===== end stability =====
