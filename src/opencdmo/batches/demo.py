"""Demo batches, executed through the services (called by `opencdmo seed-demo`).

From the effective HLX-101 CAR-T and NVG-201 AAV master batch records: a CAR-T batch reviewed
and closed, one in progress (a value outside the acceptable range has raised a deviation and
an entry waits for its second-person verification), one planned for the next patient, and an
AAV batch completed with exceptions waiting for QA's review. Operators scan the site's own
equipment and released lots; where the site has none usable, QA overrides the interlock with a
signed reason, as a real site would have to.
"""

import contextlib
import datetime as dt
from decimal import Decimal, InvalidOperation

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import Equipment, Room
from opencdmo.facilities.selectors import equipment_usability
from opencdmo.materials import services as materials_services
from opencdmo.materials.demo import certificate_of_analysis
from opencdmo.materials.models import InventoryLocation, Lot, Material
from opencdmo.materials.selectors import lot_total, lot_usability
from opencdmo.processes import selectors as process_selectors
from opencdmo.processes.domain.definition import Parameter, Step
from opencdmo.processes.models import MbrVersion

from . import selectors, services
from .models import Batch
from .services import Interlocked

CLEAR = [{"item": "No material, label or record of the previous batch in the room", "ok": True},
         {"item": "Surfaces cleaned and disinfected", "ok": True},
         {"item": "Equipment clean and within its clean hold", "ok": True}]


class Demo:
    """The people of the demo and their signatures."""

    def __init__(self, users: dict, password: str):
        self.users, self.password = users, password
        self.operator, self.verifier = users["op.olsen"], users["op.garcia"]
        self.planner, self.supervisor, self.qa = users["plan.kim"], users["sup.santos"], users["qa.patel"]
        self.submissions = 0

    def sign(self, user, meaning: str, comment: str = "") -> SignatureInput:
        return SignatureInput(meaning=meaning, password=self.password, username=user.username, comment=comment)

    def submission(self, batch: Batch, what: str) -> str:
        self.submissions += 1
        return f"demo-{batch.number}-{self.submissions}-{what}"[:64]

    def attempt(self, batch: Batch, action, *, reason: str):
        """Do `action`; when an interlock refuses it, QA overrides with `reason` and it is done again."""
        try:
            return action()
        except Interlocked as refused:
            services.override_interlock(
                self.qa, batch, step_key=refused.step_key, interlock=refused.interlock, subject=refused.subject,
                refusal=refused.message, reason=reason, signature=self.sign(self.qa, "Approved"))
            return action()


def nominal_value(parameter: Parameter) -> str:
    """What a batch on target records: the target, the middle of the normal range, the expected answer."""
    if parameter.type in ("yes_no", "choice"):
        return parameter.expected or (parameter.choices[0] if parameter.choices else "yes")
    if parameter.type == "number":
        with contextlib.suppress(InvalidOperation):
            return _reported(parameter, Decimal(parameter.target))  # a target may also be text, e.g. "≤ 24"
        r = parameter.normal or parameter.acceptable
        if r is None or (r.low is None and r.high is None):
            return "1"
        if r.low is not None and r.high is not None:
            value = (r.low + r.high) / 2
        else:
            value = r.low * Decimal("1.1") if r.low is not None else r.high * Decimal("0.9")
        return _reported(parameter, value)
    if parameter.type == "datetime":
        return "2026-11-20 08:00"
    if parameter.type == "scan":
        return "scanned"
    return "As instructed; nothing abnormal seen."


def _reported(parameter: Parameter, value: Decimal) -> str:
    """`value` to the parameter's reported decimals (two when it states none)."""
    places = parameter.decimals if parameter.decimals is not None else 2
    return str(value.quantize(Decimal(1).scaleb(-places)))


def _usable_equipment(kind: str, room: Room) -> Equipment | None:
    candidates = sorted(Equipment.objects.filter(kind=kind), key=lambda e: e.room_id != room.pk)
    return next((e for e in candidates if equipment_usability(e).usable), candidates[0] if candidates else None)


def _usable_lot(material: str) -> Lot | None:
    """The usable lot with the most stock (else any lot, which QA then has to override)."""
    lots = sorted(Lot.objects.filter(material__code=material), key=lot_total, reverse=True)
    return next((lot for lot in lots if lot_usability(lot)[0]), lots[0] if lots else None)


# The AAV batch runs at 50 L: the site receives its campaign supply (code, quantity, unit).
AAV_CAMPAIGN = [("HEK-MED", "60", "L"), ("PDNA-HELPER", "100", "mg"), ("PDNA-REPCAP9", "50", "mg"),
                ("PDNA-SMN1", "50", "mg"), ("PEI-MAX", "500", "mL")]


def _campaign_supply(demo: Demo, supply) -> None:
    """Receive, release and stage the materials a campaign needs, as the material handler and QA would."""
    handler = demo.users["mh.mueller"]
    quarantine, staging = (InventoryLocation.objects.get(code=c) for c in ("QUAR-01", "PROD-B"))
    expiry = clock.site_today() + dt.timedelta(days=365)
    for code, quantity, unit in supply:
        material = Material.objects.get(code=code)
        supplier = material.approved_suppliers.first()
        supplier_lot = f"{supplier.code}-CAMPAIGN-{code}"
        lot = materials_services.receive_lot(
            handler, material=material, supplier=supplier, supplier_lot=supplier_lot, quantity=quantity, unit=unit,
            location=quarantine, expiry_date=expiry,
            certificate=certificate_of_analysis(material, supplier.code, supplier_lot, expiry))
        materials_services.transition_lot(demo.qa, lot, "release", signature=demo.sign(
            demo.qa, "QA Released", "CoA reviewed against specification"))
        materials_services.transfer_lot(handler, lot, from_location=quarantine, to_location=staging,
                                        quantity=quantity, unit=unit, reason="staged for the NVG-201 campaign")


def _run_step(demo: Demo, batch: Batch, step: Step, *, values: dict, comments: dict, verify: bool = True) -> None:
    key = step.id
    demo.attempt(batch, lambda: services.start_step(demo.operator, batch, key),
                 reason="Demo site: the operator's training record is held on paper for this SOP.")
    if step.patient_material and batch.patient_reference:  # the bag's chain of identity label, scanned
        services.scan_patient_material(demo.operator, batch, key, scanned=f"&/{batch.patient_reference}",
                                       submission_id=demo.submission(batch, "coi"))
    for kind in step.equipment:
        equipment = _usable_equipment(kind, batch.room)
        if equipment is None:
            continue
        demo.attempt(batch, lambda e=equipment, k=kind: services.scan_equipment(
            demo.operator, batch, key, scanned=e.number, submission_id=demo.submission(batch, k)),
            reason="No other instrument of this kind available; QA reviewed its status, fit for this use.")
    for index, line in enumerate(step.materials):
        lot = _usable_lot(line.material)
        if lot is None:
            continue
        demo.attempt(batch, lambda i=index, lot=lot: services.use_material(
            demo.operator, batch, key, line=i, scanned_lot=lot.number, submission_id=demo.submission(batch, "lot")),
            reason="Sponsor-supplied lot; release documentation verified by QA.")
    for point in step.samples:
        services.take_sample(demo.operator, batch, key, point.id, submission_id=demo.submission(batch, point.id))
    for parameter in step.parameters:
        if parameter.type == "calculated":
            continue
        value = values.get(parameter.id, nominal_value(parameter))
        services.record_entry(demo.operator, batch, key, parameter.id, value=value,
                              comment=comments.get(parameter.id, ""),
                              submission_id=demo.submission(batch, parameter.id))
    if not verify:
        return
    for entry in selectors.unverified_entries(batch):
        if entry.step.key == key:
            services.verify_entry(demo.verifier, entry, signature=demo.sign(demo.verifier, "Verified"))
    services.complete_step(demo.operator, batch, key, signature=demo.sign(demo.operator, "Performed"))


def _planned(demo: Demo, version: MbrVersion, room_code: str, scale: str, patient: str = "") -> Batch:
    return services.create_batch(demo.planner, mbr_version=version, scale=Decimal(scale),
                                 room=Room.objects.get(code=room_code), patient_reference=patient)


def _started(demo: Demo, batch: Batch) -> Batch:
    kinds = {kind for step in process_selectors.definition_of(batch.mbr_version).steps() for kind in step.equipment}
    for equipment in Equipment.objects.filter(kind__in=kinds, dirty=True, status="in_service"):
        facilities_services.clean_equipment(demo.operator, equipment, agent="Sporicidal agent, then sterile 70 % IPA",
                                            agent_lot="SPOR-26-114")
    clearance = facilities_services.start_line_clearance(
        demo.operator, room=batch.room, for_record=batch.number, checks=CLEAR, for_record_type="batches.batch",
        for_record_id=str(batch.pk))
    facilities_services.transition_line_clearance(demo.operator, clearance, "perform",
                                                  signature=demo.sign(demo.operator, "Performed"))
    facilities_services.transition_line_clearance(demo.supervisor, clearance, "verify",
                                                  signature=demo.sign(demo.supervisor, "Verified"))
    return demo.attempt(batch, lambda: services.transition_batch(demo.operator, batch, "start"),
                        reason="Room status confirmed by the supervisor by telephone.")


def _execute(demo: Demo, batch: Batch, *, until: int | None = None, values=None, comments=None) -> Batch:
    steps = list(process_selectors.definition_of(batch.mbr_version).steps())
    for step in steps[:until]:
        _run_step(demo, batch, step, values=values or {}, comments=comments or {})
    return batch


def _first_number(version: MbrVersion, *, verify: bool | None = None) -> Parameter:
    definition = process_selectors.definition_of(version)
    return next(p for s in definition.steps() for p in s.parameters
                if p.type == "number" and p.normal is not None and p.normal.high is not None
                and p.acceptable is not None and p.acceptable.high is not None
                and (verify is None or p.verify == verify))


def seed(users: dict, sponsors: dict, *, password: str, patients: list[str]) -> None:
    """users: user ID → User; sponsors: code → Sponsor (see demo/management/commands/seed_demo.py);
    patients: the chain of identity identifiers of three CAR-T patients, one batch each."""
    demo = Demo(users, password)
    car_t = MbrVersion.objects.get(mbr__product__code="HLX-101", status="effective")
    aav = MbrVersion.objects.get(mbr__product__code="NVG-201", status="effective")

    # HLX-101, patient 1: made, one reading slightly off, dispositioned, reviewed.
    off = _first_number(car_t, verify=False)
    reviewed = _execute(demo, _started(demo, _planned(demo, car_t, "B-101", "1", patients[0])),
                        values={off.id: _reported(off, (off.normal.high + off.acceptable.high) / 2)},
                        comments={off.id: "Slightly above the normal range; supervisor informed."})
    services.transition_batch(demo.operator, reviewed, "complete", signature=demo.sign(demo.operator, "Performed"))
    for exception in reviewed.exceptions.filter(status="open"):
        services.disposition_exception(demo.qa, exception, disposition="Within the proven acceptable range; "
                                       "no impact on product quality.")
    services.transition_batch(demo.qa, reviewed, "review", signature=demo.sign(demo.qa, "Reviewed"))

    # NVG-201: made, waiting for QA's review by exception.
    _campaign_supply(demo, AAV_CAMPAIGN)
    aav_off = _first_number(aav)
    completed = _execute(demo, _started(demo, _planned(demo, aav, "C-201", "50")),
                         values={aav_off.id: _reported(aav_off, aav_off.acceptable.high * Decimal("1.1"))},
                         comments={aav_off.id: "Reading above the limit; bioreactor probe checked and recalibrated."})
    services.transition_batch(demo.operator, completed, "complete", signature=demo.sign(demo.operator, "Performed"))

    # HLX-101, patient 2: in progress; the next step's entries are made, its verification is waiting.
    in_progress = _started(demo, _planned(demo, car_t, "B-101", "1", patients[1]))
    steps = list(process_selectors.definition_of(car_t).steps())
    _execute(demo, in_progress, until=len(steps) // 2)
    _run_step(demo, in_progress, steps[len(steps) // 2], values={}, comments={}, verify=False)

    # HLX-101, patient 3: planned for next week.
    _planned(demo, car_t, "B-101", "1", patients[2])
