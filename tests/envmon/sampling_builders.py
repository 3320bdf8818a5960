"""An EM programme to sample: the batch world's grade B room in operation, a grade A room, the
people of the programme, an air sampler and a particle counter in service."""

import datetime as dt
from dataclasses import dataclass

from opencdmo.batches.models import Batch
from opencdmo.core.domain.roles import Role
from opencdmo.envmon import services
from opencdmo.facilities import services as facilities_services
from tests.batches import builders as batches
from tests.batches.builders import person
from tests.facilities.factories import equipment_in_service


@dataclass
class Programme:
    world: object  # tests.batches.builders.World: room (grade B, in operation), batch, people
    coordinator: object  # QC reviewer: EM coordinator, reviews and invalidates
    sampler: object  # operator
    reader: object  # QC analyst
    qa: object  # QA specialist: acknowledges excursions
    grade_a: object  # a grade A room, in operation
    air_sampler: object
    particle_counter: object

    @property
    def room(self):
        return self.world.room


def programme(sponsor) -> Programme:
    world = batches.world(sponsor, prefix="em")
    supervisor = world.supervisor
    grade_a = facilities_services.create_room(supervisor, area=world.room.area, code="EMA1", name="Filling isolator",
                                              grade="A")
    grade_a = facilities_services.transition_room(supervisor, grade_a, "in_operation", reason="aseptic filling")
    return Programme(
        world=world, coordinator=person("em.coordinator", Role.QC_REVIEWER, sponsors=[sponsor]),
        sampler=world.operator, reader=person("em.reader", Role.QC_ANALYST, sponsors=[sponsor]), qa=world.qa,
        grade_a=grade_a,
        air_sampler=equipment_in_service(supervisor, world.qa, number="EQ-AIR-01", name="Air sampler 1",
                                         kind="air_sampler", room=world.room),
        particle_counter=equipment_in_service(supervisor, world.qa, number="EQ-PC-01", name="Particle counter 1",
                                              kind="particle_counter", room=world.room))


def location(p: Programme, code: str = "B-L1", *, room=None, types=("contact_plate", "settle_plate", "active_air",
                                                                     "particles_0_5", "glove_print")):
    return services.create_location(p.coordinator, room or p.room, code=code, name=f"Location {code}", x="25",
                                    y="40", sample_types=list(types))


def plate(p: Programme, loc, sample_type: str = "contact_plate", *, state: str = "in_operation", by=None, **fields):
    fields.setdefault("media_lot", "TSA-2026-01")
    if sample_type == "settle_plate":
        fields.setdefault("exposure_minutes", 240)
    if sample_type == "active_air":
        fields.setdefault("volume_litres", "1000")
        fields.setdefault("instrument", p.air_sampler)
    return services.collect_sample(by or p.sampler, location=loc, sample_type=sample_type, state=state, **fields)


def read(p: Programme, sample, count: int, clock):
    """Incubate (both temperatures, each for its minimum) and read `count` CFU."""
    services.start_incubation(p.reader, sample, temperature_c="22.5")
    clock.advance(hours=72)
    services.second_incubation(p.reader, sample, temperature_c="32.5")
    clock.advance(hours=48)
    return services.read_plate(p.reader, sample, count=count)


def batch_between(p: Programme, started: dt.datetime | None, completed: dt.datetime | None, *, room=None):
    b = batches.plan(p.world)
    Batch.objects.filter(pk=b.pk).update(started_at=started, completed_at=completed, room=room or p.room)
    b.refresh_from_db()
    return b
