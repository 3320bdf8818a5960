from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "opencdmo.processes"
    verbose_name = "Master batch records"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services, workflows  # noqa: PLC0415
        from .models import MasterBatchRecord, MbrVersion  # noqa: PLC0415

        registry.register(MasterBatchRecord, lookup="number", label="Master batch record", url_name="processes:mbr")
        registry.register(MbrVersion, lookup="number", label="Master batch record version",
                          url_name="processes:version", workflow=workflows.version_workflow,
                          transition=services.transition_version)
        tasks.provider(selectors.version_task_list)
