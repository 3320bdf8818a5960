from django.apps import AppConfig


class QcConfig(AppConfig):
    name = "opencdmo.qc"
    verbose_name = "QC laboratory"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services, workflows  # noqa: PLC0415
        from .models import OosInvestigation, Sample, Specification, StabilityStudy, TestResult  # noqa: PLC0415

        registry.register(Specification, lookup="number", label="Specification", url_name="qc:specification",
                          workflow=workflows.specification_workflow, transition=services.transition_specification)
        registry.register(Sample, lookup="number", label="QC sample", url_name="qc:sample",
                          workflow=workflows.sample_workflow)
        registry.register(TestResult, lookup="number", label="QC result", url_name="qc:result",
                          workflow=workflows.result_workflow, transition=services.transition_result)
        registry.register(OosInvestigation, lookup="number", label="OOS investigation", url_name="qc:investigation",
                          workflow=workflows.oos_workflow, transition=services.transition_investigation)
        registry.register(StabilityStudy, lookup="number", label="Stability study", url_name="qc:stability_study",
                          workflow=workflows.stability_workflow, transition=services.transition_study)
        for provider in (selectors.specification_tasks, selectors.qc_sample_tasks, selectors.oos_tasks,
                         selectors.stability_pull_tasks):
            tasks.provider(provider)
