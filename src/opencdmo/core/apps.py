from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opencdmo.core"
    verbose_name = "Compliance kernel"
