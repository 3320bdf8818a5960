from django.apps import AppConfig


class FacilitiesConfig(AppConfig):
    name = "opencdmo.facilities"
    verbose_name = "Facilities and equipment"

    def ready(self):
        from opencdmo.core import registry, tasks  # noqa: PLC0415

        from . import selectors, services  # noqa: PLC0415
        from .models import Equipment, LineClearance, Room  # noqa: PLC0415
        from .workflows import equipment_workflow, line_clearance_workflow, room_workflow  # noqa: PLC0415

        registry.register(Equipment, lookup="number", label="Equipment", url_name="facilities:equipment",
                          workflow=equipment_workflow, transition=services.transition_equipment)
        registry.register(LineClearance, lookup="number", label="Line clearance",
                          url_name="facilities:line_clearance", workflow=line_clearance_workflow,
                          transition=services.transition_line_clearance)
        registry.register(Room, lookup="code", label="Room", url_name="facilities:room",
                          workflow=room_workflow, transition=services.transition_room)
        tasks.provider(selectors.task_list)
