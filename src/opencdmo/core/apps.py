from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "opencdmo.core"
    verbose_name = "Compliance kernel"

    def ready(self):
        from django.db.models.signals import post_migrate  # noqa: PLC0415

        post_migrate.connect(_create_chain_heads, sender=self)


def _create_chain_heads(sender, using="default", **kwargs):
    from . import audit  # noqa: PLC0415

    audit.create_chain_heads()
