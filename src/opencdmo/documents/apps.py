from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "opencdmo.documents"
    verbose_name = "Controlled documents"
