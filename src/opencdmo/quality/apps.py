from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "opencdmo.quality"
    verbose_name = "Quality management"

    def ready(self):
        from opencdmo.core import registry  # noqa: PLC0415

        from .models import Deviation  # noqa: PLC0415

        registry.register(Deviation, lookup="number", label="Deviation", url_name="quality:deviation")
