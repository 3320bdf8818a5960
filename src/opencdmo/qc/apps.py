

from django.apps import AppConfig


class QcConfig(AppConfig):
    name = "opencdmo.qc"
    verbose_name = "QC laboratory"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: F401, PLC0415

        from . import selectors, services, workflows  # noqa: F401, PLC0415

        # ===== methods and specifications =====
        from .models import Specification  # noqa: PLC0415

        registry.register(Specification, lookup="number", label="Specification", url_name="qc:specification",
                          workflow=workflows.specification_workflow, transition=services.transition_specification)
        tasks.provider(selectors.specification_tasks)
        # ===== end methods and specifications =====
        # ===== samples and results =====
        from .models import Sample, TestResult  # noqa: PLC0415

        registry.register(Sample, lookup="number", label="QC sample", url_name="qc:sample",
                          workflow=workflows.sample_workflow)
        registry.register(TestResult, lookup="number", label="QC result", url_name="qc:result",
                          workflow=workflows.result_workflow, transition=services.transition_result)
        tasks.provider(selectors.qc_sample_tasks)
        # ===== end samples and results =====
        # ===== OOS investigations =====
        from .models import OosInvestigation  # noqa: PLC0415

        registry.register(OosInvestigation, lookup="number", label="OOS investigation", url_name="qc:investigation",
                          workflow=workflows.oos_workflow, transition=services.transition_investigation)
        tasks.provider(selectors.oos_tasks)
        # ===== end OOS investigations =====
        # ===== stability =====
        from .models import StabilityStudy  # noqa: PLC0415

        registry.register(StabilityStudy, lookup="number", label="Stability study", url_name="qc:stability_study",
                          workflow=workflows.stability_workflow, transition=services.transition_study)
        tasks.provider(selectors.stability_pull_tasks)
        # ===== end stability =====
