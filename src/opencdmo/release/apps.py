from django.apps import AppConfig


class ReleaseConfig(AppConfig):
    name = "opencdmo.release"
    verbose_name = "Disposition"

    def ready(self):
        pass
