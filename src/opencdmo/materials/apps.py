from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "opencdmo.materials"
    verbose_name = "Materials and inventory"
