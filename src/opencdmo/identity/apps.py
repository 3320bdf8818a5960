from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "opencdmo.identity"
    verbose_name = "Chain of identity"
