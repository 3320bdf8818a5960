from django.apps import AppConfig


class ReleaseConfig(AppConfig):
    name = "opencdmo.release"
    verbose_name = "Disposition"

    def ready(self):
        # ===== disposition =====
        from opencdmo.core import registry, tasks  # noqa: PLC0415
        from opencdmo.identity.models import Milestone  # noqa: PLC0415
        from opencdmo.identity.services import HANDOFF_CHECKS  # noqa: PLC0415
        from opencdmo.materials.workflows import RELEASE_CHECKS  # noqa: PLC0415
        from opencdmo.qc.signals import result_changed  # noqa: PLC0415

        from . import selectors as disposition_selectors  # noqa: PLC0415
        from . import services as disposition_services  # noqa: PLC0415
        from .models import Disposition, PostReleaseNotice  # noqa: PLC0415
        from .workflows import disposition_workflow  # noqa: PLC0415

        registry.register(Disposition, lookup="number", label="Disposition", url_name="release:disposition",
                          workflow=disposition_workflow, transition=disposition_services.transition_disposition)
        registry.register(PostReleaseNotice, lookup="number", label="Post-release notice", url_name="release:notice")
        tasks.provider(disposition_selectors.disposition_tasks)
        if disposition_selectors.incoming_tests_check not in RELEASE_CHECKS:
            RELEASE_CHECKS.append(disposition_selectors.incoming_tests_check)
        shipment_checks = HANDOFF_CHECKS[Milestone.RELEASE_FOR_SHIPMENT]
        if disposition_selectors.shipment_release_check not in shipment_checks:
            shipment_checks.append(disposition_selectors.shipment_release_check)
        result_changed.connect(disposition_services.on_result_changed, dispatch_uid="release.late_result")
        # ===== end disposition =====
        pass
