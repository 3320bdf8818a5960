from django.apps import AppConfig


class SponsorsConfig(AppConfig):
    name = "opencdmo.sponsors"
    verbose_name = "Sponsors and products"
