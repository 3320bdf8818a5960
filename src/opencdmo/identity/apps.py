from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "opencdmo.identity"
    verbose_name = "Chain of identity"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services, workflows  # noqa: PLC0415
        from .models import Collection, Patient, Shipment, TherapyOrder, Unit  # noqa: PLC0415

        registry.register(Patient, lookup="number", label="Patient", url_name="identity:patient",
                          workflow=workflows.patient_workflow, transition=services.transition_patient)
        registry.register(TherapyOrder, lookup="number", label="Therapy order", url_name="identity:order",
                          workflow=workflows.order_workflow, transition=services.transition_order)
        registry.register(Collection, lookup="number", label="Collection", url_name="identity:collection")
        registry.register(Unit, lookup="number", label="Unit of patient material", url_name="identity:unit")
        registry.register(Shipment, lookup="number", label="Shipment", url_name="identity:shipment")
        tasks.provider(selectors.custody_task_list)
