from django.apps import AppConfig


class SponsorsConfig(AppConfig):
    name = "opencdmo.sponsors"
    verbose_name = "Sponsors and products"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import QualityAgreement  # noqa: PLC0415
        from .workflows import quality_agreement_workflow  # noqa: PLC0415

        registry.register(QualityAgreement, lookup="number", label="Quality agreement",
                          url_name="sponsors:agreement", workflow=quality_agreement_workflow,
                          transition=services.transition_quality_agreement)
        tasks.provider(selectors.agreement_task_list)
