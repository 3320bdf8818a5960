"""A ready-to-run batch world built through the services, for tests, the demo and the benchmark.

`world(sponsor)` gives sponsor A's autologous CAR-T product with an effective MBR (the small
five-step definition: an SOP, a biosafety cabinet, a vector lot on the bill of materials), a
grade B room in operation, the equipment in service, a released lot, operators trained on
the SOP, and a planned batch with its verified line clearance. Plain functions taking users
and records, so that code outside pytest can call them too.
"""

import itertools
import uuid
from dataclasses import dataclass
from decimal import Decimal

from opencdmo.batches import selectors, services
from opencdmo.batches.models import Batch
from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from opencdmo.documents.selectors import site_today
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import Area
from opencdmo.materials.models import Material
from opencdmo.processes.domain.definition import Definition, Parameter
from opencdmo.training import services as training_services
from opencdmo.training.models import TrainingAssignment
from tests.conftest import PASSWORD
from tests.documents.builders import effective_document
from tests.facilities.factories import CLEAR, equipment_in_service
from tests.factories import signature
from tests.materials import builders as materials
from tests.processes.builders import effective_version, small_definition

EQUIPMENT_KIND = "biosafety_cabinet"
VECTOR = "LV-CD19"

# Values within every normal range of small_definition.
GOOD_VALUES = {"bag_intact": "yes", "viable_cells": "3e8", "viability": "95.0", "titer": "1e8", "moi": "3",
               "incubator_temperature": "37.0"}

_worlds = itertools.count(1)


def person(username: str, *roles: Role, sponsors=()) -> User:
    found = User.objects.filter(username=username).first()
    return found or core_services.create_user(
        None, username=username, full_name=username.replace(".", " ").title(), password=PASSWORD,
        roles=[r.value for r in roles], sponsor_ids=[s.pk for s in sponsors])


def submission() -> str:
    return uuid.uuid4().hex


@dataclass
class World:
    sponsor: object
    product: object
    supervisor: User  # plans batches, authors the MBR, runs rooms and equipment, verifies line clearances
    qa: User  # QA specialist: qualifies, releases lots, overrides interlocks
    qa_approver: User
    operator: User
    second_operator: User  # verifies the operator's entries
    room: object
    equipment: object
    material: Material
    lot: object
    sop: object  # the Document
    version: object  # the effective MbrVersion
    batch: Batch | None = None

    @property
    def definition(self) -> Definition:
        return selectors.definition_of(self.batch)


def people(sponsor, prefix: str) -> dict[str, User]:
    return {
        "supervisor": person(f"{prefix}sup.santos", Role.SUPERVISOR, sponsors=[sponsor]),
        "qa": person(f"{prefix}qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor]),
        "qa_approver": person(f"{prefix}qp.dubois", Role.QA_APPROVER, sponsors=[sponsor]),
        "operator": person(f"{prefix}op.olsen", Role.OPERATOR, sponsors=[sponsor]),
        "second_operator": person(f"{prefix}op.garcia", Role.OPERATOR, sponsors=[sponsor]),
    }


def room_in_operation(supervisor, code: str):
    area = Area.objects.first()
    if area is None:
        site = facilities_services.create_site(supervisor, code="S1", name="Demo site")
        area = facilities_services.create_area(supervisor, site=site, code="CT", name="Cell therapy suites")
    room = facilities_services.create_room(supervisor, area=area, code=code, name=f"Suite {code}", grade="B")
    return facilities_services.transition_room(supervisor, room, "in_operation", reason="production campaign")


def trained_sop(supervisor, qa, qa_approver, trainees, title: str):
    """An SOP effective today, assigned to the operators and signed read and understood by each."""
    document, version = effective_document(supervisor, qa, qa_approver, title, effective_date=site_today())
    training_services.create_curriculum(qa, name=f"Operators: {document.number}", roles=["operator"],
                                        documents=[document])
    for user in trainees:
        assignment = TrainingAssignment.objects.get(user=user, document_version=version, status="assigned")
        training_services.transition_assignment(user, assignment, "read_and_understood",
                                                signature=signature(user, "Read and Understood"))
    return document


def released_lot(qa, handler, code: str = VECTOR, *, quantity: str = "1000"):
    materials.location(qa)
    material = materials.material(qa, code, name="Lentiviral vector CD19-CAR", unit="mL",
                                  category=Material.Category.CRITICAL_REAGENT, storage=Material.Storage.ULT)
    return material, materials.release(qa, materials.receive(handler, material, quantity=quantity))


def line_clearance(operator, verifier, batch):
    clearance = facilities_services.start_line_clearance(
        operator, room=batch.room, for_record=batch.number, checks=CLEAR, for_record_type="batches.batch",
        for_record_id=str(batch.pk))
    facilities_services.transition_line_clearance(operator, clearance, "perform",
                                                  signature=signature(operator, "Performed"))
    return facilities_services.transition_line_clearance(verifier, clearance, "verify",
                                                         signature=signature(verifier, "Verified"))


def therapy(world: World) -> str:
    """The chain of identity identifier of a new therapy order for a patient of the world's sponsor."""
    from tests.identity import builders as identity  # noqa: PLC0415

    return identity.order(world.qa, identity.patient(world.qa, world.sponsor)).coi


def plan(world: World, *, patient_reference: str | None = None, scale="1", cleared: bool = True, **fields) -> Batch:
    if patient_reference is None:
        patient_reference = therapy(world) if world.product.modality == "autologous_cell" else ""
    batch = services.create_batch(world.supervisor, mbr_version=world.version, scale=scale, room=world.room,
                                  patient_reference=patient_reference, **fields)
    if cleared:
        line_clearance(world.operator, world.supervisor, batch)
    return batch


def world(sponsor, *, prefix: str = "", definition: Definition | None = None, batch: bool = True) -> World:
    """Everything a batch of sponsor's first product needs, and (by default) a planned batch."""
    n = next(_worlds)
    users = people(sponsor, prefix)
    product = sponsor.programs.first().products.first()
    handler = person(f"{prefix}mh.novak", Role.MATERIAL_HANDLER, sponsors=[sponsor])
    room = room_in_operation(users["supervisor"], f"{prefix[:4]}B{n:02d}".upper())
    equipment = equipment_in_service(users["supervisor"], users["qa"], number=f"EQ-BSC-{prefix[:4]}{n:02d}".upper(),
                                     kind=EQUIPMENT_KIND, room=room)
    material, lot = released_lot(users["qa"], handler)
    sop = trained_sop(users["supervisor"], users["qa"], users["qa_approver"],
                      [users["operator"], users["second_operator"]], f"CAR-T manufacturing {prefix}{n}")
    definition = definition or small_definition(product.code, sop=sop.number, material=material.code,
                                                equipment=EQUIPMENT_KIND)
    version = effective_version(users["supervisor"], users["qa_approver"], product, definition)
    built = World(sponsor=sponsor, product=product, room=room, equipment=equipment, material=material, lot=lot,
                  sop=sop, version=version, **users)
    if batch:
        built.batch = plan(built)
    return built


def start(world: World, batch: Batch | None = None) -> Batch:
    batch = batch or world.batch
    world.batch = services.transition_batch(world.operator, batch, "start")
    return world.batch


def good_value(parameter: Parameter) -> str:
    """A value within the parameter's normal range (or its expected answer)."""
    if parameter.id in GOOD_VALUES:
        return GOOD_VALUES[parameter.id]
    if parameter.type in ("yes_no", "choice"):
        return parameter.expected or (parameter.choices[0] if parameter.choices else "yes")
    if parameter.type == "number":
        r = parameter.normal or parameter.acceptable
        if r is None:
            return parameter.target or "1"
        if r.low is not None and r.high is not None:
            value = (r.low + r.high) / 2
        else:
            value = r.low + 1 if r.low is not None else (r.high - 1 if r.high is not None else Decimal(1))
        return str(round(value, parameter.decimals) if parameter.decimals is not None else value)
    if parameter.type == "datetime":
        return "2026-03-02 09:00"
    return "done"


def run_step(world: World, key: str, *, by: User | None = None, verifier: User | None = None,
             values: dict | None = None):
    """Start a step and do everything it asks (entries, scans, materials, samples, verifications),
    then complete it signed 'Performed'."""
    by = by or world.operator
    verifier = verifier or world.second_operator
    batch = world.batch
    step = world.definition.step(key)
    services.start_step(by, batch, key)
    if step.patient_material and batch.patient_reference:  # the bag's chain of identity label (DS040)
        services.scan_patient_material(by, batch, key, scanned=f"&/{batch.patient_reference}",
                                       submission_id=submission())
    for kind in step.equipment:
        assert kind == world.equipment.kind, f"the world has no {kind}"
        services.scan_equipment(by, batch, key, scanned=world.equipment.number, submission_id=submission())
    for index, _ in enumerate(step.materials):
        services.use_material(by, batch, key, line=index, scanned_lot=world.lot.number, submission_id=submission())
    for point in step.samples:
        services.take_sample(by, batch, key, point.id, submission_id=submission())
    recorded = []
    for parameter in step.parameters:
        if parameter.type == "calculated":
            continue
        value = (values or {}).get(parameter.id, good_value(parameter))
        recorded.append(services.record_entry(by, batch, key, parameter.id, value=value, submission_id=submission(),
                                              comment="" if value == good_value(parameter) else "as found"))
    for entry in selectors.unverified_entries(batch):
        if entry.step.key == key:
            services.verify_entry(verifier, entry, signature=signature(verifier, "Verified"))
    return services.complete_step(by, batch, key, signature=signature(by, "Performed"))


# For the cross-sponsor web tests (tests/web/conftest.py RECORD_BUILDERS): (author, sponsor, title) → reference.

def _running_for_sponsor(sponsor) -> Batch:
    """The sponsor's batch in progress, with step A1 done and the sample of A2 taken (built once)."""
    found = Batch.objects.filter(sponsor=sponsor, status="in_progress").first()
    if found is not None:
        return found
    built = world(sponsor, prefix=f"s{sponsor.pk}.")  # rooms and equipment are CDMO-wide: no sponsor name in them
    start(built)
    run_step(built, "A1", values={"viability": "75.0"})  # outside the normal range: an exception to review
    services.start_step(built.operator, built.batch, "A2")
    services.take_sample(built.operator, built.batch, "A2", "SP-STER", submission_id=submission())
    return built.batch


def batch_for_sponsor(author, sponsor, title: str) -> str:
    return _running_for_sponsor(sponsor).number


def sample_for_sponsor(author, sponsor, title: str) -> str:
    return _running_for_sponsor(sponsor).samples.get().number
