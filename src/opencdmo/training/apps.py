from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "opencdmo.training"
    verbose_name = "Training"

    def ready(self):
        from opencdmo.core import registry, signals, tasks  # noqa: PLC0415
        from opencdmo.documents import signals as document_signals  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import TrainingAssignment  # noqa: PLC0415
        from .workflows import assignment_workflow  # noqa: PLC0415

        signals.role_granted.connect(services.on_role_granted, dispatch_uid="training.role_granted")
        document_signals.version_approved.connect(services.on_version_approved, dispatch_uid="training.approved")
        document_signals.version_effective.connect(services.on_version_effective, dispatch_uid="training.effective")
        document_signals.document_obsoleted.connect(services.on_document_obsoleted, dispatch_uid="training.obsolete")
        registry.register(TrainingAssignment, lookup="number", label="Training assignment",
                          url_name="training:assignment", workflow=assignment_workflow,
                          transition=services.transition_assignment)
        tasks.provider(selectors.training_task_list)
