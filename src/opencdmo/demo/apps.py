from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "opencdmo.demo"
    verbose_name = "Demo CDMO"
