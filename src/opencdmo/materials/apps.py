from django.apps import AppConfig


class MaterialsConfig(AppConfig):
    name = "opencdmo.materials"
    verbose_name = "Materials and inventory"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import Lot  # noqa: PLC0415
        from .workflows import lot_workflow  # noqa: PLC0415

        registry.register(Lot, lookup="number", label="Lot", url_name="materials:lot",
                          workflow=lot_workflow, transition=services.transition_lot)
        tasks.provider(selectors.disposition_task_list)
        tasks.provider(selectors.expiry_task_list)
