from django.apps import AppConfig


class FacilitiesConfig(AppConfig):
    name = "opencdmo.facilities"
    verbose_name = "Facilities and equipment"
