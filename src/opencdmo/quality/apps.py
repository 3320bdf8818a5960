from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "opencdmo.quality"
    verbose_name = "Quality management"

    def ready(self):
        from opencdmo.core import registry  # noqa: PLC0415

        # --- Deviations ---
        from opencdmo.core import tasks as dev_tasks  # noqa: PLC0415

        from . import selectors as dev_selectors  # noqa: PLC0415
        from . import services as dev_services  # noqa: PLC0415
        from . import workflows as dev_workflows  # noqa: PLC0415
        from .models import Deviation, DueDateExtension  # noqa: PLC0415

        registry.register(Deviation, lookup="number", label="Deviation", url_name="quality:deviation",
                          workflow=dev_workflows.deviation_workflow, transition=dev_services.transition_deviation)
        registry.register(DueDateExtension, lookup="number", label="Due date extension",
                          url_name="quality:extension", workflow=dev_workflows.extension_workflow,
                          transition=dev_services.transition_extension)
        dev_tasks.provider(dev_selectors.deviation_tasks)

        # --- CAPA ---
        from .models import Capa  # noqa: PLC0415

        registry.register(Capa, lookup="number", label="CAPA", url_name="quality:capa",
                          workflow=dev_workflows.capa_workflow, transition=dev_services.transition_capa)
        dev_tasks.provider(dev_selectors.capa_tasks)

        # --- Change control ---
        from opencdmo.core import tasks  # noqa: PLC0415

        from . import selectors, services, workflows  # noqa: PLC0415
        from .models import ChangeControl, RiskAssessment, RiskMethod, SponsorApproval  # noqa: PLC0415

        registry.register(ChangeControl, lookup="number", label="Change control", url_name="quality:change",
                          workflow=workflows.change_workflow, transition=services.transition_change)
        registry.register(SponsorApproval, lookup="number", label="Sponsor approval of a change",
                          url_name="quality:sponsor_approval", workflow=workflows.sponsor_approval_workflow,
                          transition=services.decide_sponsor_approval)
        tasks.provider(selectors.change_task_list)

        # --- Risk assessment ---
        registry.register(RiskMethod, lookup="number", label="Risk method", url_name="quality:risk_method",
                          workflow=workflows.risk_method_workflow, transition=services.transition_risk_method)
        registry.register(RiskAssessment, lookup="number", label="Risk assessment",
                          url_name="quality:risk_assessment", workflow=workflows.risk_assessment_workflow,
                          transition=services.transition_risk_assessment)
        tasks.provider(selectors.risk_task_list)
