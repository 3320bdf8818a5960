from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "opencdmo.batches"
    verbose_name = "Batch records"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import services, views, workflows  # noqa: PLC0415
        from .models import Batch, BatchSample  # noqa: PLC0415

        registry.register(Batch, lookup="number", label="Batch", url_name="batches:batch",
                          workflow=workflows.batch_workflow, transition=services.transition_batch)
        registry.register(BatchSample, lookup="number", label="Batch sample", url_name="batches:sample")
        tasks.provider(views.batch_tasks)

        # --- Review by exception (H5) ---
        from . import selectors  # noqa: PLC0415

        tasks.provider(selectors.review_tasks)
