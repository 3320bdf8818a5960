from django.apps import AppConfig


class EnvmonConfig(AppConfig):
    name = "opencdmo.envmon"
    verbose_name = "Environmental monitoring"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services, workflows  # noqa: PLC0415
        from .models import Classification, EmSample, Excursion, LevelSet  # noqa: PLC0415

        # --- samples and excursions ---
        registry.register(EmSample, lookup="number", label="EM sample", url_name="envmon:sample",
                          workflow=workflows.sample_workflow)
        registry.register(Excursion, lookup="number", label="EM excursion", url_name="envmon:excursion",
                          workflow=workflows.excursion_workflow)
        for provider in (selectors.sample_tasks, selectors.reading_tasks, selectors.excursion_tasks):
            tasks.provider(provider)
        # --- alert and action levels, classification ---
        registry.register(LevelSet, lookup="number", label="Alert and action levels", url_name="envmon:level",
                          workflow=workflows.level_set_workflow, transition=services.transition_level_set)
        registry.register(Classification, lookup="number", label="Room classification",
                          url_name="envmon:classification", workflow=workflows.classification_workflow,
                          transition=services.transition_classification)
        for provider in (selectors.level_set_tasks, selectors.classification_tasks):
            tasks.provider(provider)
        # --- tasks ---
