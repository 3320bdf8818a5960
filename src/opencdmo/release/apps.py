from django.apps import AppConfig


class ReleaseConfig(AppConfig):
    name = "opencdmo.release"
    verbose_name = "Disposition"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415
        from opencdmo.identity.models import Milestone  # noqa: PLC0415
        from opencdmo.identity.services import HANDOFF_CHECKS  # noqa: PLC0415
        from opencdmo.materials.workflows import RELEASE_CHECKS  # noqa: PLC0415
        from opencdmo.qc.signals import result_changed  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import Disposition, PostReleaseNotice  # noqa: PLC0415
        from .workflows import disposition_workflow  # noqa: PLC0415

        registry.register(Disposition, lookup="number", label="Disposition", url_name="release:disposition",
                          workflow=disposition_workflow, transition=services.transition_disposition)
        registry.register(PostReleaseNotice, lookup="number", label="Post-release notice", url_name="release:notice")
        tasks.provider(selectors.disposition_tasks)
        # The lower layers' hooks: no lot release before its incoming tests pass, no release for
        # shipment before the batch's disposition, and a late failing result becomes a notice.
        if selectors.incoming_tests_check not in RELEASE_CHECKS:
            RELEASE_CHECKS.append(selectors.incoming_tests_check)
        shipment_checks = HANDOFF_CHECKS[Milestone.RELEASE_FOR_SHIPMENT]
        if selectors.shipment_release_check not in shipment_checks:
            shipment_checks.append(selectors.shipment_release_check)
        result_changed.connect(services.on_result_changed, dispatch_uid="release.late_result")
