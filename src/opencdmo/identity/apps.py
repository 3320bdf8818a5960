from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "opencdmo.identity"
    verbose_name = "Chain of identity"

    def ready(self):
        from opencdmo.core import registry  # noqa: PLC0415

        from . import services, workflows  # noqa: PLC0415
        from .models import Patient, TherapyOrder  # noqa: PLC0415

        registry.register(Patient, lookup="number", label="Patient", url_name="identity:patient",
                          workflow=workflows.patient_workflow, transition=services.transition_patient)
        registry.register(TherapyOrder, lookup="number", label="Therapy order", url_name="identity:order",
                          workflow=workflows.order_workflow, transition=services.transition_order)
