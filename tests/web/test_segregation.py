"""Sponsor segregation over HTTP, for every page and every API endpoint (DESIGN.md "Access").

A user assigned only to sponsor A gets 404 for every URL that names one of sponsor B's records,
exactly as for a record that does not exist; their writes against B's records change nothing;
B's records never appear in A's lists. The tables below name a probe for every parameterised
route of the URL resolver and of the API; a route missing from them fails
`test_every_parameterised_route_has_a_segregation_probe`, so a new endpoint cannot be forgotten.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from opencdmo.api import api
from opencdmo.core import registry
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from tests.conftest import PASSWORD

from .conftest import EVERY_STAFF_ROLE, SponsorRecords, bearer, signed_in

pytestmark = pytest.mark.req("P11-1d")


@dataclass(frozen=True)
class Probe:
    """One request that names a sponsor's record; `url` and `data` are built from that sponsor's records."""

    method: str
    url: Callable[[SponsorRecords], str]
    data: Callable[[SponsorRecords, User], dict] | None = None
    api: bool = False
    multipart: bool = False
    label: str = ""


def _upload(_records=None, _user=None) -> dict:
    return {"file": SimpleUploadedFile("probe.txt", b"probe", content_type="text/plain"),
            "description": "segregation probe"}


def _signature(_records, user) -> dict:
    return {"username": user.username, "password": PASSWORD, "reason": "segregation probe",
            "comment": "segregation probe"}


def _agreement_form(_records, _user) -> dict:
    return {"title": "Taken over by another sponsor", "terms": "changed", "deviation_notification_days": "9",
            "reason": "segregation probe"}


def _sponsor_kinds():
    """Record kinds that belong to a sponsor. CDMO-wide kinds (rooms, equipment: sponsor_scope
    None) belong to no sponsor; who may see them is a permission, tested with the page tests."""
    return [kind for kind in registry.kinds() if getattr(kind.model, "sponsor_scope", None) is not None]


def _kinds():
    return [(kind.type_name, kind) for kind in _sponsor_kinds()]


def _actions():
    return [(kind.type_name, t.name) for kind in _sponsor_kinds() if kind.workflow
            for t in kind.workflow.transitions]


# --- Deviations ---
_DEVIATION_STEP_FORMS = {
    "edit": {"title": "Taken over", "description": "segregation probe"},
    "classify": {"patient_safety": "yes", "investigator": "only.acme"},
    "investigator": {"investigator": "only.acme", "reason": "segregation probe"},
    "investigation": {"root_cause": "segregation probe"},
    "immediate-actions": {"immediate_actions": "segregation probe"},
    "links": {"record_type": "quality.deviation", "reference": "DEV-0"},
    "extensions": {"requested_due_date": "2099-01-01", "justification": "segregation probe"},
    "capas": {"title": "segregation probe", "problem": "segregation probe", "owner": "only.acme"},
}
# --- CAPA ---
_CAPA_STEP_FORMS = {
    "actions": {"kind": "corrective", "description": "segregation probe", "due_date": "2099-01-01"},
    "completion": {"effectiveness_criteria": "segregation probe"},
    "effectiveness": {"result": "effective", "evidence": "segregation probe"},
    "extensions": {"requested_due_date": "2099-01-01", "justification": "segregation probe"},
}


def _capa_action(records) -> int:
    from opencdmo.quality.models import CapaAction  # noqa: PLC0415

    return CapaAction.objects.filter(capa__number=records.references["quality.capa"]).values_list("pk", flat=True)[0]


# --- Change control / Risk assessment --- (helpers for the probes below)
def _cc(r) -> str:
    return r.references["quality.changecontrol"]


def _ra(r) -> str:
    return r.references["quality.riskassessment"]


def _cc_task(r) -> int:
    from opencdmo.quality.models import ChangeTask  # noqa: PLC0415

    return ChangeTask.objects.filter(change__number=_cc(r)).first().pk


def _ra_row(r) -> int:
    from opencdmo.quality.models import FailureMode  # noqa: PLC0415

    return FailureMode.objects.filter(assessment__number=_ra(r)).first().pk


def _fmea_row(_r=None, _u=None) -> dict:
    return {"step": "Probe", "failure_mode": "probe", "effect": "probe", "cause": "probe", "severity": 2,
            "occurrence": 2, "detection": 2}


# --- Master batch records and batches: each sponsor has an effective MBR version and a batch in
# progress (step A1 done with one value outside its normal range, step A2 started, its sample taken).
def _patient(r) -> str:
    return r.references["identity.patient"]


def _order(r) -> str:
    return r.references["identity.therapyorder"]


def _order_form(r, _u=None) -> dict:
    return {"product": r.product_code, "planned_collection": "2026-12-01"}


def _collection(r) -> str:
    return r.references["identity.collection"]


def _unit(r) -> str:
    return r.references["identity.unit"]


def _shipment(r) -> str:
    return r.references["identity.shipment"]


def _held_unit(r) -> str:
    """A unit of the sponsor held after its shipper was rejected, made the first time."""
    from tests.identity.builders import held_unit_for_sponsor  # noqa: PLC0415

    if getattr(r, "held_unit", None) is None:
        r.held_unit = held_unit_for_sponsor(None, r.sponsor, "held")
    return r.held_unit


def _held_decision(_r, user) -> dict:
    return {"decision": "destroy", "reason": "segregation probe", "username": user.username, "password": PASSWORD}


def _therapy_product(r) -> str:
    """The sponsor's autologous product (sponsor B's is added with its first therapy order)."""
    from tests.identity.builders import autologous_product  # noqa: PLC0415

    _order(r)
    return autologous_product(r.sponsor).code


def _unit_order(r) -> str:
    """The therapy order of the sponsor's stored unit."""
    from opencdmo.identity.models import Unit  # noqa: PLC0415

    return Unit.objects.get(number=_unit(r)).order.number


def _shipped_unit_scan(r) -> list[str]:
    """The label scan of the unit packed in the sponsor's shipment (not stored)."""
    from opencdmo.identity.models import Shipment  # noqa: PLC0415
    from tests.identity.builders import unit_scan  # noqa: PLC0415

    return unit_scan(Shipment.objects.get(number=_shipment(r)).units.get())


def _label_print(r) -> int:
    """A label printed for the sponsor's stored unit, made the first time."""
    from opencdmo.identity import services as identity_services  # noqa: PLC0415
    from opencdmo.identity.models import LabelPrint, Unit  # noqa: PLC0415
    from tests.identity.builders import handler  # noqa: PLC0415

    unit = Unit.objects.select_related("order").get(number=_unit(r))
    printed = LabelPrint.objects.filter(unit=unit).first()
    if printed is None:
        printed = identity_services.print_labels(handler(r.sponsor), unit.order, kind=unit.kind, units=[unit])[0][0]
    return printed.pk


def _free_position(r) -> str:
    """A free position of freezer LN2-01 (the CDMO's own; units of both sponsors are stored in it)."""
    from opencdmo.identity.domain import storage  # noqa: PLC0415
    from opencdmo.identity.models import Box  # noqa: PLC0415

    _unit(r)  # stored in LN2-01, made with it the first time
    box = Box.objects.filter(rack__freezer__code="LN2-01").order_by("code").first()
    used = set(box.placements.filter(removed_at__isnull=True).values_list("position", flat=True))
    return f"{box.code}/" + next(p for row in reversed(storage.grid(box.rows, box.columns)) for p in reversed(row)
                                 if p not in used)


_HANDOFF = {"kind": "issue_to_manufacturing", "scanned": "&/CHA999926000001", "to_party": "probe"}
_LOGGER = {"scanned": "&/CHA999926000001", "logger_min_c": "3.0", "logger_max_c": "6.0", "minutes_out_of_range": "0",
           "accepted": "yes", "note": "probe"}


def _centre(r) -> str:
    from opencdmo.identity.models import TreatmentCentre  # noqa: PLC0415

    _patient(r)  # the patient's centre
    return str(TreatmentCentre.objects.filter(sponsor=r.sponsor).first().pk)


def _sponsor_material(r) -> str:
    """The material the sponsor supplies, made with its lot (tests/materials/builders.py)."""
    r.references["materials.lot"]
    return f"LV-{r.sponsor.code}"


def _mbr(r) -> str:
    return r.references["processes.masterbatchrecord"]


def _mbr_version(r) -> str:
    return r.references["processes.mbrversion"]


def _batch(r) -> str:
    return r.references["batches.batch"]


def _entry(r) -> int:
    from opencdmo.batches.models import BatchEntry  # noqa: PLC0415

    return BatchEntry.objects.filter(batch__number=_batch(r), step__key="A1").first().pk


def _batch_exception(r) -> int:
    from opencdmo.batches.models import BatchException  # noqa: PLC0415

    return BatchException.objects.filter(batch__number=_batch(r)).first().pk


def _entry_form(_r=None, _u=None) -> dict:
    return {"parameter": "titer", "value": "1e8", "submission_id": "probe-entry-1"}


def _mbr_file(r, _u=None) -> dict:
    from opencdmo.processes.domain import mbr_format  # noqa: PLC0415
    from tests.processes.builders import small_definition  # noqa: PLC0415

    return {"text": mbr_format.dump_yaml(small_definition(r.product_code)), "change_summary": "probe"}


def _equipment_number(_r=None) -> str:
    from opencdmo.facilities.models import Equipment  # noqa: PLC0415

    return Equipment.objects.order_by("pk").first().number


def _lot_number(r) -> str:
    from opencdmo.batches.models import Batch  # noqa: PLC0415
    from opencdmo.materials.models import Lot  # noqa: PLC0415

    material = Batch.objects.get(number=_batch(r)).mbr_version.definition["stages"][1]["steps"][0]["materials"][0]
    return Lot.objects.filter(material__code=material["material"]).first().number


# Forms of the operator screen's step actions (posted to step A2 of the sponsor's batch).
STEP_FORMS = {
    "start": lambda r: {},
    "record": lambda r: {"parameter": "titer", "value": "1e8", "submission_id": "probe-1"},
    "correct": lambda r: {"entry": _entry(r), "value": "1", "reason": "probe", "submission_id": "probe-2"},
    "verify": lambda r: {"entry": _entry(r), "username": "x", "password": "x"},
    "scan": lambda r: {"scanned": _equipment_number(), "submission_id": "probe-3"},
    "material": lambda r: {"line": "0", "lot": _lot_number(r), "submission_id": "probe-4"},
    "sample": lambda r: {"point": "SP-STER", "submission_id": "probe-5"},
    "skip": lambda r: {"reason": "probe"},
    "complete": lambda r: {"username": "x", "password": "x"},
}


# --- QC laboratory: r.references["qc.specification"] (a draft), ["qc.sample"] (received, against an
# approved release specification), ["qc.testresult"] (an endotoxin result entered on that sample),
# ["qc.oosinvestigation"] (in Phase I), ["qc.stabilitystudy"] (approved, its pulls scheduled) ---
def _spec(r) -> str:
    return r.references["qc.specification"]


def _qc_sample(r) -> str:
    return r.references["qc.sample"]


def _qc_result(r) -> str:
    return r.references["qc.testresult"]


def _oos(r) -> str:
    return r.references["qc.oosinvestigation"]


def _study(r) -> str:
    return r.references["qc.stabilitystudy"]


def _method_code(r) -> str:
    """VIA (viability), one of the methods made with the sponsor's specification (tests/qc/test_specifications.py)."""
    _spec(r)
    return "VIA"


def _sample_spec(r) -> str:
    """The approved specification of the sponsor's sample."""
    from opencdmo.qc.models import Sample  # noqa: PLC0415

    return Sample.objects.select_related("specification").get(number=_qc_sample(r)).specification.number


def _probe_batch(r, n: int) -> str:
    """A batch of the sponsor's product that a hand-registered sample may name."""
    from opencdmo.qc.models import Specification  # noqa: PLC0415
    from tests.qc import builders as qc_builders  # noqa: PLC0415

    product = Specification.objects.get(number=_sample_spec(r)).product
    return qc_builders.batch(r.author, product, f"B-PROBE-{r.sponsor.code}-{n}").number


def _sample_tests(r) -> list[str]:
    from opencdmo.qc.models import Sample  # noqa: PLC0415

    return [str(pk) for pk in Sample.objects.get(number=_qc_sample(r)).specification.tests.values_list("pk", flat=True)]


def _sterility_test(r) -> int:
    """The sample's sterility criterion: no instrument, no result yet."""
    from opencdmo.qc.models import Sample  # noqa: PLC0415

    return Sample.objects.get(number=_qc_sample(r)).tests.get(attribute="Sterility").pk


def _pull(r) -> int:
    """The study's first pull (month 0, due on its start date: today)."""
    from opencdmo.qc.models import StabilityPull  # noqa: PLC0415

    return StabilityPull.objects.filter(study__number=_study(r)).order_by("due_date", "pk").values_list(
        "pk", flat=True)[0]


def _phase_one_answers():
    from opencdmo.qc.domain import oos  # noqa: PLC0415

    return oos.ITEM_KEYS


def _sample_result_form(r, _u=None) -> dict:
    return {"test": str(_sterility_test(r)), "value": "no growth", "submission_id": "probe-result-0001"}


# Forms of the sample page (posted to the sponsor's received sample).
SAMPLE_FORMS = {
    "receive/": lambda r: {"location": "QC fridge 9"},
    "move/": lambda r: {"to_location": "QC fridge 9", "purpose": "segregation probe"},
    "aliquots/": lambda r: {"count": "2"},
    "retain/": lambda r: {"location": "Retain freezer 1"},
    "dispose/": lambda r: {"reason": "segregation probe"},
    "tests/": lambda r: {"tests": _sample_tests(r)},
    "specification/": lambda r: {"specification": _sample_spec(r)},
    "results/": _sample_result_form,
}

# Forms of the OOS investigation page's steps (a signed action carries the signature fields).
OOS_STEP_FORMS = {
    "phase-one": lambda r, u: {**{f"answer_{k}": "yes" for k in _phase_one_answers()}, "assignable_cause": ""},
    "phase-two": lambda r, u: {"production_review": "segregation probe", "batch_impact": "segregation probe"},
    "invalidate": lambda r, u: _signature(r, u),
    "escalate": lambda r, u: _signature(r, u),
    "close": lambda r, u: {**_signature(r, u), "conclusion": "confirmed", "summary": "segregation probe"},
}


# --- Disposition: r.references["release.disposition"] is an open disposition of a quarantined lot,
# ["release.postreleasenotice"] a notice on a released lot whose incoming test failed (tests/release/);
# batch pages name the sponsor's batch in progress (a decision on it is refused: not 404) ---
def _disposition(r) -> str:
    return r.references["release.disposition"]


def _notice(r) -> str:
    return r.references["release.postreleasenotice"]


def _disposition_lot(r) -> str:
    from opencdmo.release.models import Disposition  # noqa: PLC0415

    return Disposition.objects.get(number=_disposition(r)).subject_ref


def _released_lot(r) -> str:
    from opencdmo.release.models import PostReleaseNotice  # noqa: PLC0415

    return PostReleaseNotice.objects.select_related("disposition").get(number=_notice(r)).disposition.subject_ref


def _decision(_r, user) -> dict:
    return {"decision": "release", "username": user.username, "password": PASSWORD}


def _notification(_r=None, _u=None) -> dict:
    return {"notified_whom": "segregation probe", "notification": "segregation probe"}


# Django URL patterns (pages) → the probes that name a sponsor's record through that route.
PAGE_PROBES: dict[str, list[Probe]] = {
    # --- Patients and therapy orders ---
    "identity/patients/<str:number>/": [Probe("GET", lambda r: f"/identity/patients/{_patient(r)}/")],
    "identity/patients/<str:number>/orders/new/": [
        Probe("GET", lambda r: f"/identity/patients/{_patient(r)}/orders/new/"),
        Probe("POST", lambda r: f"/identity/patients/{_patient(r)}/orders/new/", _order_form)],
    "identity/orders/<str:number>/": [Probe("GET", lambda r: f"/identity/orders/{_order(r)}/")],
    # --- Collections, containers, custody, shipments, labels, vein-to-vein ---
    **{f"identity/orders/<str:number>/{tail}": [
        Probe("GET", lambda r, t=tail: f"/identity/orders/{_order(r)}/{t}"),
        *([Probe("POST", lambda r, t=tail: f"/identity/orders/{_order(r)}/{t}", data)] if data else []),
    ] for tail, data in (
        ("collections/new/", lambda r, u: {"planned_on": "2026-12-20"}),
        ("final-product/", lambda r, u: {"bags": "1"}),
        ("shipments/new/", lambda r, u: {"direction": "inbound", "units": [_unit(r)], "courier": "probe",
                                         "origin": "probe", "destination": "probe"}),
        ("timeline/", None))},
    "identity/orders/<str:number>/labels/": [
        Probe("GET", lambda r: f"/identity/orders/{_unit_order(r)}/labels/"),
        Probe("POST", lambda r: f"/identity/orders/{_unit_order(r)}/labels/",
              lambda r, u: {"action": "print", "kind": "collection_bag", "units": [_unit(r)]})],
    "identity/collections/<str:number>/": [
        Probe("GET", lambda r: f"/identity/collections/{_collection(r)}/"),
        Probe("POST", lambda r: f"/identity/collections/{_collection(r)}/", lambda r, u: {"bags": "1"})],
    "identity/units/<str:number>/": [Probe("GET", lambda r: f"/identity/units/{_unit(r)}/")],
    "identity/units/<str:number>/handoff/": [
        Probe("POST", lambda r: f"/identity/units/{_unit(r)}/handoff/", lambda r, u: _HANDOFF)],
    "identity/shipments/<str:number>/": [Probe("GET", lambda r: f"/identity/shipments/{_shipment(r)}/")],
    "identity/shipments/<str:number>/dispatch/": [
        Probe("POST", lambda r: f"/identity/shipments/{_shipment(r)}/dispatch/",
              lambda r, u: {"scanned": "&/CHA999926000001"})],
    "identity/units/<str:number>/decision/": [
        Probe("POST", lambda r: f"/identity/units/{_held_unit(r)}/decision/", _held_decision)],
    "identity/shipments/<str:number>/cancel/": [
        Probe("POST", lambda r: f"/identity/shipments/{_shipment(r)}/cancel/", lambda r, u: {"reason": "probe"})],
    "identity/shipments/<str:number>/receipt/": [
        Probe("POST", lambda r: f"/identity/shipments/{_shipment(r)}/receipt/", lambda r, u: _LOGGER)],
    "identity/products/<str:code>/identity/": [
        Probe("GET", lambda r: f"/identity/products/{_therapy_product(r)}/identity/"),
        Probe("POST", lambda r: f"/identity/products/{_therapy_product(r)}/identity/", lambda r, u: {
            "form": "labelling", "collection_pdc": "S1234", "final_pdc": "S5678", "collection_type": "1",
            "storage": "probe", "shelf_life_days": "90", "reason": "probe"})],
    # --- Master batch records and batches ---
    "processes/<str:number>/": [Probe("GET", lambda r: f"/processes/{_mbr(r)}/")],
    "processes/<str:number>/new-version/": [
        Probe("GET", lambda r: f"/processes/{_mbr(r)}/new-version/"),
        Probe("POST", lambda r: f"/processes/{_mbr(r)}/new-version/", _mbr_file)],
    "processes/versions/<str:number>/": [Probe("GET", lambda r: f"/processes/versions/{_mbr_version(r)}/")],
    "processes/versions/<str:number>/edit/": [
        Probe("GET", lambda r: f"/processes/versions/{_mbr_version(r)}/edit/"),
        Probe("POST", lambda r: f"/processes/versions/{_mbr_version(r)}/edit/", _mbr_file)],
    "processes/versions/<str:number>/export/": [
        Probe("GET", lambda r: f"/processes/versions/{_mbr_version(r)}/export/")],
    "batches/<str:number>/": [Probe("GET", lambda r: f"/batches/{_batch(r)}/")],
    "batches/<str:number>/execute/": [Probe("GET", lambda r: f"/batches/{_batch(r)}/execute/?step=A2")],
    "batches/<str:number>/steps/<str:key>/<str:action>/": [
        Probe("POST", lambda r, a=a: f"/batches/{_batch(r)}/steps/A2/{a}/", lambda r, u, a=a: STEP_FORMS[a](r), label=a)
        for a in STEP_FORMS],
    "batches/<str:number>/override/": [
        Probe("POST", lambda r: f"/batches/{_batch(r)}/override/", lambda r, u: {
            "step": "A2", "interlock": "room", "subject": "B-01", "refusal": "probe", "reason": "probe",
            "username": u.username, "password": PASSWORD})],
    "batches/<str:number>/review/": [Probe("GET", lambda r: f"/batches/{_batch(r)}/review/")],
    "batches/<str:number>/review/exceptions/<int:exception_id>/": [
        Probe("POST", lambda r: f"/batches/{_batch(r)}/review/exceptions/{_batch_exception(r)}/",
              lambda r, u: {"disposition": "probe"})],
    "batches/<str:number>/record.pdf": [Probe("GET", lambda r: f"/batches/{_batch(r)}/record.pdf")],
    "batches/<str:number>/record.json": [Probe("GET", lambda r: f"/batches/{_batch(r)}/record.json")],
    "batches/samples/<str:number>/": [
        Probe("GET", lambda r: f"/batches/samples/{r.references['batches.batchsample']}/")],
    # --- Change control ---
    "quality/changes/<str:number>/": [Probe("GET", lambda r: f"/quality/changes/{_cc(r)}/")],
    "quality/changes/<str:number>/edit/": [
        Probe("GET", lambda r: f"/quality/changes/{_cc(r)}/edit/"),
        Probe("POST", lambda r: f"/quality/changes/{_cc(r)}/edit/", lambda r, u: {
            "title": "Taken over", "description": "d", "justification": "j", "kind": "process", "reason": "probe"}),
    ],
    "quality/changes/<str:number>/assessment/": [
        Probe("POST", lambda r: f"/quality/changes/{_cc(r)}/assessment/",
              lambda r, u: {"classification": "critical", "risk_summary": "probe"})],
    "quality/changes/<str:number>/impacts/": [
        Probe("POST", lambda r: f"/quality/changes/{_cc(r)}/impacts/",
              lambda r, u: {"area": "document", "assessment": "probe"})],
    "quality/changes/<str:number>/tasks/": [
        Probe("POST", lambda r: f"/quality/changes/{_cc(r)}/tasks/",
              lambda r, u: {"description": "probe", "owner": u.username, "due_date": "2026-06-01"}, label="plan"),
        Probe("POST", lambda r: f"/quality/changes/{_cc(r)}/tasks/", lambda r, u: {"task": str(_cc_task(r))},
              label="complete"),
    ],
    "quality/changes/<str:number>/pdf/": [Probe("GET", lambda r: f"/quality/changes/{_cc(r)}/pdf/")],
    "quality/sponsor-approvals/<str:number>/": [
        Probe("GET", lambda r: f"/quality/sponsor-approvals/{r.references['quality.sponsorapproval']}/")],
    # --- Risk assessment ---
    "quality/risk-assessments/<str:number>/": [Probe("GET", lambda r: f"/quality/risk-assessments/{_ra(r)}/")],
    "quality/risk-assessments/<str:number>/failure-modes/": [
        Probe("GET", lambda r: f"/quality/risk-assessments/{_ra(r)}/failure-modes/?row={_ra_row(r)}"),
        Probe("POST", lambda r: f"/quality/risk-assessments/{_ra(r)}/failure-modes/", _fmea_row),
    ],
    "quality/deviations/<str:number>/": [
        Probe("GET", lambda r: f"/quality/deviations/{r.references['quality.deviation']}/"),
    ],
    # --- Deviations ---
    "quality/deviations/<str:number>/pdf/": [
        Probe("GET", lambda r: f"/quality/deviations/{r.references['quality.deviation']}/pdf/"),
    ],
    "quality/deviations/<str:number>/<str:step>/": [
        Probe("POST", lambda r, s=s: f"/quality/deviations/{r.references['quality.deviation']}/{s}/", label=s,
              data=lambda r, u, d=d: d) for s, d in _DEVIATION_STEP_FORMS.items()
    ],
    "quality/extensions/<str:number>/": [
        Probe("GET", lambda r: f"/quality/extensions/{r.references['quality.duedateextension']}/"),
    ],
    # --- CAPA ---
    "quality/capas/<str:number>/": [Probe("GET", lambda r: f"/quality/capas/{r.references['quality.capa']}/")],
    "quality/capas/<str:number>/<str:step>/": [
        Probe("POST", lambda r, s=s: f"/quality/capas/{r.references['quality.capa']}/{s}/", label=s,
              data=lambda r, u, d=d: {**d, "owner": u.username}) for s, d in _CAPA_STEP_FORMS.items()
    ],
    "quality/capas/<str:number>/actions/<int:pk>/<str:step>/": [
        Probe("POST", lambda r, s=s: f"/quality/capas/{r.references['quality.capa']}/actions/{_capa_action(r)}/{s}/",
              label=s, data=lambda r, u: {"evidence": "segregation probe", "reason": "segregation probe"})
        for s in ("complete", "verify", "cancel")
    ],
    "sponsors/quality-agreements/<str:number>/": [
        Probe("GET", lambda r: f"/sponsors/quality-agreements/{r.agreement.number}/"),
        Probe("POST", lambda r: f"/sponsors/quality-agreements/{r.agreement.number}/", _agreement_form),
    ],
    "sponsors/quality-agreements/<str:number>/edit/": [
        Probe("GET", lambda r: f"/sponsors/quality-agreements/{r.agreement.number}/edit/"),
        Probe("POST", lambda r: f"/sponsors/quality-agreements/{r.agreement.number}/edit/", _agreement_form),
    ],
    "sponsors/quality-agreements/<str:number>/pdf/": [
        Probe("GET", lambda r: f"/sponsors/quality-agreements/{r.agreement.number}/pdf/"),
    ],
    "records/<str:type_name>/<str:reference>/audit-trail/": [
        Probe("GET", lambda r, t=t: f"/records/{t}/{r.references[t]}/audit-trail/", label=t) for t, _ in _kinds()
    ],
    "records/<str:type_name>/<str:reference>/signatures/": [
        Probe("GET", lambda r, t=t: f"/records/{t}/{r.references[t]}/signatures/", label=t) for t, _ in _kinds()
    ],
    "records/<str:type_name>/<str:reference>/attachments/": [
        *(Probe("GET", lambda r, t=t: f"/records/{t}/{r.references[t]}/attachments/", label=t) for t, _ in _kinds()),
        *(Probe("POST", lambda r, t=t: f"/records/{t}/{r.references[t]}/attachments/", _upload, multipart=True,
                label=t) for t, _ in _kinds()),
    ],
    "records/<str:type_name>/<str:reference>/actions/<str:action>/": [
        *(Probe("GET", lambda r, t=t, a=a: f"/records/{t}/{r.references[t]}/actions/{a}/", label=f"{t}-{a}")
          for t, a in _actions()),
        *(Probe("POST", lambda r, t=t, a=a: f"/records/{t}/{r.references[t]}/actions/{a}/", _signature,
                label=f"{t}-{a}") for t, a in _actions()),
    ],
    "attachments/<int:pk>/": [
        Probe("GET", lambda r: f"/attachments/{r.attachment.pk}/"),
    ],
    # Materials: the lot is r.references["materials.lot"], its material LV-<sponsor code> (tests/materials/builders.py).
    "materials/lots/<str:number>/": [
        Probe("GET", lambda r: f"/materials/lots/{r.references['materials.lot']}/"),
    ],
    "materials/lots/<str:number>/labels/": [
        Probe("GET", lambda r: f"/materials/lots/{r.references['materials.lot']}/labels/"),
    ],
    "materials/lots/<str:number>/<str:kind>/": [
        *(Probe("GET", lambda r, k=k: f"/materials/lots/{r.references['materials.lot']}/{k}/", label=k)
          for k in ("issue", "return", "sample", "transfer", "adjust", "destroy")),
        Probe("POST", lambda r: f"/materials/lots/{r.references['materials.lot']}/issue/", label="issue",
              data=lambda r, u: {"location": "QUAR-01", "quantity": "1", "for_label": "segregation probe"}),
        Probe("POST", lambda r: f"/materials/lots/{r.references['materials.lot']}/adjust/", label="adjust",
              data=lambda r, u: {"location": "QUAR-01", "quantity": "0", "reason": "segregation probe"}),
    ],
    "materials/master/<str:code>/": [
        Probe("GET", lambda r: f"/materials/master/{_sponsor_material(r)}/"),
        Probe("POST", lambda r: f"/materials/master/{_sponsor_material(r)}/", label="edit",
              data=lambda r, u: {"action": "edit", "name": "taken over", "category": "reagent", "storage": "ult",
                                 "unit": "mL", "reason": "segregation probe"}),
    ],
    # --- Documents and training: r.references["documents.document"] / ["documents.documentversion"] /
    # ["training.trainingassignment"] (tests/documents/builders.py) ---
    **{f"documents/<str:number>/{tail}": [
        Probe("GET", lambda r, t=tail: f"/documents/{r.references['documents.document']}/{t}"),
        *([] if tail == "" else [Probe("POST", lambda r, t=tail: f"/documents/{r.references['documents.document']}/{t}",
                                       _signature)]),
    ] for tail in ("", "new-version/", "periodic-review/")},
    **{f"documents/versions/<str:number>/{tail}": [
        Probe("GET", lambda r, t=tail: f"/documents/versions/{r.references['documents.documentversion']}/{t}"),
        *([] if tail != "edit/" else [Probe(
            "POST", lambda r: f"/documents/versions/{r.references['documents.documentversion']}/edit/",
            lambda r, u: {"content": "taken over", "change_summary": "segregation probe"})]),
    ] for tail in ("", "edit/", "pdf/")},
    "training/assignments/<str:number>/": [
        Probe("GET", lambda r: f"/training/assignments/{r.references['training.trainingassignment']}/")],
    "training/assignments/<str:number>/session/": [
        Probe("GET", lambda r: f"/training/assignments/{r.references['training.trainingassignment']}/session/"),
        Probe("POST", lambda r: f"/training/assignments/{r.references['training.trainingassignment']}/session/",
              lambda r, u: {"result": "pass", "score": "90", "username": u.username, "password": PASSWORD}),
    ],
    # --- QC laboratory: specifications, samples and results, OOS investigations, stability ---
    "qc/specifications/<str:number>/": [Probe("GET", lambda r: f"/qc/specifications/{_spec(r)}/")],
    "qc/specifications/<str:number>/edit/": [
        Probe("GET", lambda r: f"/qc/specifications/{_spec(r)}/edit/"),
        Probe("POST", lambda r: f"/qc/specifications/{_spec(r)}/edit/", lambda r, u: {
            "title": "Taken over", "rounding": "half_up", "reason": "segregation probe", "attribute_1": "Viability",
            "method_1": "VIA", "criterion_1": "at_least", "lower_1": "50.0"})],
    "qc/specifications/<str:number>/revise/": [
        Probe("GET", lambda r: f"/qc/specifications/{_spec(r)}/revise/"),
        Probe("POST", lambda r: f"/qc/specifications/{_spec(r)}/revise/",
              lambda r, u: {"change_control": "CC-0", "reason": "segregation probe"})],
    "qc/samples/<str:number>/": [Probe("GET", lambda r: f"/qc/samples/{_qc_sample(r)}/")],
    **{f"qc/samples/<str:number>/{tail}": [
        Probe("POST", lambda r, t=tail: f"/qc/samples/{_qc_sample(r)}/{t}", lambda r, u, f=form: f(r))]
       for tail, form in SAMPLE_FORMS.items()},
    "qc/results/<str:number>/": [Probe("GET", lambda r: f"/qc/results/{_qc_result(r)}/")],
    "qc/oos/<str:number>/": [Probe("GET", lambda r: f"/qc/oos/{_oos(r)}/")],
    "qc/oos/<str:number>/<str:step>/": [
        Probe("POST", lambda r, s=step: f"/qc/oos/{_oos(r)}/{s}/", form, label=step)
        for step, form in OOS_STEP_FORMS.items()],
    "qc/stability/<str:number>/": [Probe("GET", lambda r: f"/qc/stability/{_study(r)}/")],
    "qc/stability/pulls/<int:pk>/pull/": [
        Probe("POST", lambda r: f"/qc/stability/pulls/{_pull(r)}/pull/", lambda r, u: {"quantity": "1", "unit": "mL"})],
    # --- Disposition and certificates of analysis ---
    "release/batches/<str:number>/": [
        Probe("GET", lambda r: f"/release/batches/{_batch(r)}/"),
        Probe("POST", lambda r: f"/release/batches/{_batch(r)}/", _decision)],
    "release/lots/<str:number>/": [
        Probe("GET", lambda r: f"/release/lots/{_disposition_lot(r)}/"),
        Probe("POST", lambda r: f"/release/lots/{_disposition_lot(r)}/", _decision)],
    "release/dispositions/<str:number>/": [Probe("GET", lambda r: f"/release/dispositions/{_disposition(r)}/")],
    "release/notices/<str:number>/": [
        Probe("GET", lambda r: f"/release/notices/{_notice(r)}/"),
        Probe("POST", lambda r: f"/release/notices/{_notice(r)}/", _notification)],
    "release/batches/<str:number>/coa.pdf": [Probe("GET", lambda r: f"/release/batches/{_batch(r)}/coa.pdf")],
    "release/lots/<str:number>/coa.pdf": [Probe("GET", lambda r: f"/release/lots/{_released_lot(r)}/coa.pdf")],
    # --- Environmental monitoring ---
    "envmon/batches/<str:number>/": [Probe("GET", lambda r: f"/envmon/batches/{_batch(r)}/")],
}

# Ninja operations (method, path) → the probe that names a sponsor's record through it.
API_PROBES: dict[tuple[str, str], list[Probe]] = {
    # --- Environmental monitoring ---
    ("GET", "/envmon/batches/{number}/summary"): [
        Probe("GET", lambda r: f"/api/v1/envmon/batches/{_batch(r)}/summary", api=True)],
    # --- Patients and therapy orders ---
    ("GET", "/patients/{number}"): [Probe("GET", lambda r: f"/api/v1/patients/{_patient(r)}", api=True)],
    ("POST", "/patients/{number}/orders"): [
        Probe("POST", lambda r: f"/api/v1/patients/{_patient(r)}/orders", _order_form, api=True)],
    ("GET", "/therapy-orders/{number}"): [Probe("GET", lambda r: f"/api/v1/therapy-orders/{_order(r)}", api=True)],
    # --- Collections, containers, custody, shipments, labels, vein-to-vein ---
    **{(method, f"/therapy-orders/{{number}}/{tail}"): [
        Probe(method, lambda r, t=tail: f"/api/v1/therapy-orders/{_order(r)}/{t}", data, api=True)]
       for method, tail, data in (
           ("POST", "collections", lambda r, u: {"planned_on": "2026-12-20"}),
           ("POST", "final-product", lambda r, u: {"bags": 1}),
           ("GET", "custody", None), ("GET", "timeline", None), ("GET", "labels", None))},
    ("POST", "/therapy-orders/{number}/labels"): [
        Probe("POST", lambda r: f"/api/v1/therapy-orders/{_unit_order(r)}/labels", api=True,
              data=lambda r, u: {"kind": "collection_bag", "units": [_unit(r)]})],
    ("POST", "/collections/{number}/collected"): [
        Probe("POST", lambda r: f"/api/v1/collections/{_collection(r)}/collected", api=True,
              data=lambda r, u: {"bags": 1})],
    ("GET", "/units/{number}"): [Probe("GET", lambda r: f"/api/v1/units/{_unit(r)}", api=True)],
    ("POST", "/units/{number}/handoffs"): [
        Probe("POST", lambda r: f"/api/v1/units/{_unit(r)}/handoffs", api=True,
              data=lambda r, u: {**_HANDOFF, "scanned": [_HANDOFF["scanned"]]})],
    ("GET", "/shipments/{number}"): [Probe("GET", lambda r: f"/api/v1/shipments/{_shipment(r)}", api=True)],
    ("POST", "/shipments/{number}/cancellation"): [
        Probe("POST", lambda r: f"/api/v1/shipments/{_shipment(r)}/cancellation", api=True,
              data=lambda r, u: {"reason": "probe"})],
    ("POST", "/units/{number}/decision"): [
        Probe("POST", lambda r: f"/api/v1/units/{_held_unit(r)}/decision", _held_decision, api=True)],
    ("POST", "/shipments/{number}/dispatch"): [
        Probe("POST", lambda r: f"/api/v1/shipments/{_shipment(r)}/dispatch", api=True,
              data=lambda r, u: {"scanned": ["&/CHA999926000001"]})],
    ("POST", "/shipments/{number}/receipt"): [
        Probe("POST", lambda r: f"/api/v1/shipments/{_shipment(r)}/receipt", api=True,
              data=lambda r, u: {**_LOGGER, "scanned": [_LOGGER["scanned"]], "accepted": True,
                                 "minutes_out_of_range": 0})],
    ("POST", "/label-prints/{print_id}/reconciliation"): [
        Probe("POST", lambda r: f"/api/v1/label-prints/{_label_print(r)}/reconciliation", api=True,
              data=lambda r, u: {"applied": 1, "destroyed": 0})],
    ("GET", "/products/{code}/identity-settings"): [
        Probe("GET", lambda r: f"/api/v1/products/{_therapy_product(r)}/identity-settings", api=True)],
    ("PUT", "/products/{code}/identity-settings"): [
        Probe("PUT", lambda r: f"/api/v1/products/{_therapy_product(r)}/identity-settings", api=True,
              data=lambda r, u: {"collection_pdc": "S1234", "final_pdc": "S5678", "collection_type": "1",
                                 "storage": "probe", "shelf_life_days": 90, "reason": "probe"})],
    ("POST", "/products/{code}/custody-windows"): [
        Probe("POST", lambda r: f"/api/v1/products/{_therapy_product(r)}/custody-windows", api=True,
              data=lambda r, u: {"start": "collection", "end": "receipt", "limit_hours": 48, "reason": "probe"})],
    # --- Master batch records and batches ---
    ("GET", "/mbrs/{number}"): [Probe("GET", lambda r: f"/api/v1/mbrs/{_mbr(r)}", api=True)],
    ("GET", "/mbrs/{number}/versions"): [Probe("GET", lambda r: f"/api/v1/mbrs/{_mbr(r)}/versions", api=True)],
    ("POST", "/mbrs/{number}/versions"): [
        Probe("POST", lambda r: f"/api/v1/mbrs/{_mbr(r)}/versions", api=True, data=_mbr_file)],
    ("GET", "/mbr-versions/{number}"): [Probe("GET", lambda r: f"/api/v1/mbr-versions/{_mbr_version(r)}", api=True)],
    ("GET", "/mbr-versions/{number}/export"): [
        Probe("GET", lambda r: f"/api/v1/mbr-versions/{_mbr_version(r)}/export", api=True)],
    ("PATCH", "/mbr-versions/{number}"): [
        Probe("PATCH", lambda r: f"/api/v1/mbr-versions/{_mbr_version(r)}", api=True,
              data=lambda r, u: {"change_summary": "taken over"})],
    ("POST", "/mbr-versions/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/mbr-versions/{_mbr_version(r)}/{a}", _signature, api=True, label=a)
        for a in ("submit", "approve", "make_effective", "return", "withdraw")],
    ("GET", "/batches/{number}"): [Probe("GET", lambda r: f"/api/v1/batches/{_batch(r)}", api=True)],
    ("POST", "/batches/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/batches/{_batch(r)}/{a}", _signature, api=True, label=a)
        for a in ("start", "hold", "resume", "complete", "cancel")],
    ("POST", "/batches/{number}/overrides"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/overrides", api=True, data=lambda r, u: {
            "step": "A2", "interlock": "room", "subject": "B-01", "refusal": "probe", "reason": "probe",
            "username": u.username, "password": PASSWORD})],
    ("GET", "/batches/{number}/steps/{key}"): [Probe("GET", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A1",
                                                     api=True)],
    ("POST", "/batches/{number}/steps/{key}/start"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/B1/start", api=True, data=lambda r, u: {})],
    ("POST", "/batches/{number}/steps/{key}/entries"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/entries", api=True, data=_entry_form)],
    ("POST", "/batches/{number}/steps/{key}/equipment"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/equipment", api=True,
              data=lambda r, u: {"scanned": _equipment_number(), "submission_id": "probe-scan"})],
    ("POST", "/batches/{number}/steps/{key}/materials"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/materials", api=True,
              data=lambda r, u: {"line": 0, "lot": _lot_number(r), "submission_id": "probe-lot"})],
    ("POST", "/batches/{number}/steps/{key}/identity-scans"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/identity-scans", api=True,
              data=lambda r, u: {"scanned": "&/CHA999926000001", "submission_id": "probe-coi"})],
    ("POST", "/batches/{number}/steps/{key}/samples"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/samples", api=True,
              data=lambda r, u: {"point": "SP-STER", "submission_id": "probe-sample"})],
    ("POST", "/batches/{number}/steps/{key}/skip"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/skip", api=True,
              data=lambda r, u: {"reason": "probe"})],
    ("POST", "/batches/{number}/steps/{key}/complete"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/steps/A2/complete", _signature, api=True)],
    ("POST", "/batches/{number}/entries/{entry_id}/corrections"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/entries/{_entry(r)}/corrections", api=True,
              data=lambda r, u: {"value": "2e8", "reason": "probe", "submission_id": "probe-correction"})],
    ("POST", "/batches/{number}/entries/{entry_id}/verification"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/entries/{_entry(r)}/verification", _signature,
              api=True)],
    ("GET", "/batches/{number}/review/exceptions"): [
        Probe("GET", lambda r: f"/api/v1/batches/{_batch(r)}/review/exceptions", api=True)],
    ("POST", "/batches/{number}/exceptions/{exception_id}/disposition"): [
        Probe("POST", lambda r: f"/api/v1/batches/{_batch(r)}/exceptions/{_batch_exception(r)}/disposition",
              api=True, data=lambda r, u: {"disposition": "probe"})],
    ("GET", "/batches/{number}/record/json"): [
        Probe("GET", lambda r: f"/api/v1/batches/{_batch(r)}/record/json", api=True)],
    ("GET", "/batches/{number}/record/pdf"): [
        Probe("GET", lambda r: f"/api/v1/batches/{_batch(r)}/record/pdf", api=True)],
    # --- Change control ---
    ("GET", "/change-controls/{number}"): [Probe("GET", lambda r: f"/api/v1/change-controls/{_cc(r)}", api=True)],
    ("PATCH", "/change-controls/{number}/assessment"): [
        Probe("PATCH", lambda r: f"/api/v1/change-controls/{_cc(r)}/assessment", api=True,
              data=lambda r, u: {"classification": "critical"})],
    ("POST", "/change-controls/{number}/impacts"): [
        Probe("POST", lambda r: f"/api/v1/change-controls/{_cc(r)}/impacts", api=True,
              data=lambda r, u: {"area": "document", "assessment": "probe"})],
    ("POST", "/change-controls/{number}/tasks"): [
        Probe("POST", lambda r: f"/api/v1/change-controls/{_cc(r)}/tasks", api=True,
              data=lambda r, u: {"description": "probe", "owner": u.username, "due_date": "2026-06-01"})],
    ("POST", "/change-controls/{number}/tasks/{task_id}/complete"): [
        Probe("POST", lambda r: f"/api/v1/change-controls/{_cc(r)}/tasks/{_cc_task(r)}/complete", api=True,
              data=lambda r, u: {})],
    ("POST", "/change-controls/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/change-controls/{_cc(r)}/{a}", _signature, api=True, label=a)
        for a in ("submit", "request_approval", "return_to_assessment", "approve", "implement", "close", "reject",
                  "cancel")],
    ("GET", "/sponsor-approvals/{number}"): [
        Probe("GET", lambda r: f"/api/v1/sponsor-approvals/{r.references['quality.sponsorapproval']}", api=True)],
    ("POST", "/sponsor-approvals/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/sponsor-approvals/{r.references['quality.sponsorapproval']}/{a}",
              _signature, api=True, label=a) for a in ("approve", "reject")],
    # --- Risk assessment ---
    ("GET", "/risk-assessments/{number}"): [
        Probe("GET", lambda r: f"/api/v1/risk-assessments/{_ra(r)}", api=True)],
    ("POST", "/risk-assessments/{number}/failure-modes"): [
        Probe("POST", lambda r: f"/api/v1/risk-assessments/{_ra(r)}/failure-modes", api=True, data=_fmea_row)],
    ("PATCH", "/risk-assessments/{number}/failure-modes/{row_id}"): [
        Probe("PATCH", lambda r: f"/api/v1/risk-assessments/{_ra(r)}/failure-modes/{_ra_row(r)}", api=True,
              data=lambda r, u: {"severity": 1})],
    ("POST", "/risk-assessments/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/risk-assessments/{_ra(r)}/{a}", _signature, api=True, label=a)
        for a in ("submit", "review", "approve", "return", "void")],
    # --- Deviations ---
    ("GET", "/deviations/{number}"): [
        Probe("GET", lambda r: f"/api/v1/deviations/{r.references['quality.deviation']}", api=True)],
    ("POST", "/deviations/{number}/classify"): [
        Probe("POST", lambda r: f"/api/v1/deviations/{r.references['quality.deviation']}/classify", api=True,
              data=lambda r, u: {"answers": {"patient_safety": "yes"}, "investigator": u.username})],
    ("POST", "/deviations/{number}/investigation"): [
        Probe("POST", lambda r: f"/api/v1/deviations/{r.references['quality.deviation']}/investigation", api=True,
              data=lambda r, u: {"root_cause": "segregation probe"})],
    ("POST", "/deviations/{number}/extensions"): [
        Probe("POST", lambda r: f"/api/v1/deviations/{r.references['quality.deviation']}/extensions", api=True,
              data=lambda r, u: {"requested_due_date": "2099-01-01", "justification": "segregation probe"})],
    ("POST", "/deviations/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/deviations/{r.references['quality.deviation']}/{a}", _signature,
              api=True, label=a) for a in ("submit", "return", "close", "cancel")],
    ("GET", "/extensions/{number}"): [
        Probe("GET", lambda r: f"/api/v1/extensions/{r.references['quality.duedateextension']}", api=True)],
    ("POST", "/extensions/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/extensions/{r.references['quality.duedateextension']}/{a}",
              _signature, api=True, label=a) for a in ("approve", "reject")],
    # --- CAPA ---
    ("GET", "/capas/{number}"): [Probe("GET", lambda r: f"/api/v1/capas/{r.references['quality.capa']}", api=True)],
    ("POST", "/capas/{number}/actions"): [
        Probe("POST", lambda r: f"/api/v1/capas/{r.references['quality.capa']}/actions", api=True,
              data=lambda r, u: {"kind": "corrective", "description": "probe", "owner": u.username,
                                 "due_date": "2099-01-01"})],
    ("POST", "/capas/{number}/actions/{action_id}/{step}"): [
        Probe("POST", lambda r, s=s: f"/api/v1/capas/{r.references['quality.capa']}/actions/{_capa_action(r)}/{s}",
              api=True, label=s, data=lambda r, u: {"evidence": "probe", "reason": "probe"})
        for s in ("complete", "verify", "cancel")],
    ("POST", "/capas/{number}/completion"): [
        Probe("POST", lambda r: f"/api/v1/capas/{r.references['quality.capa']}/completion", api=True,
              data=lambda r, u: {"effectiveness_criteria": "probe"})],
    ("POST", "/capas/{number}/effectiveness"): [
        Probe("POST", lambda r: f"/api/v1/capas/{r.references['quality.capa']}/effectiveness", api=True,
              data=lambda r, u: {"result": "effective", "evidence": "probe"})],
    ("POST", "/capas/{number}/extensions"): [
        Probe("POST", lambda r: f"/api/v1/capas/{r.references['quality.capa']}/extensions", api=True,
              data=lambda r, u: {"requested_due_date": "2099-01-01", "justification": "probe"})],
    ("POST", "/capas/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/capas/{r.references['quality.capa']}/{a}", _signature, api=True,
              label=a) for a in ("approve", "close", "cancel")],
    ("GET", "/sponsors/{code}"): [Probe("GET", lambda r: f"/api/v1/sponsors/{r.sponsor.code}", api=True)],
    ("GET", "/sponsors/{code}/programs"): [
        Probe("GET", lambda r: f"/api/v1/sponsors/{r.sponsor.code}/programs", api=True)],
    ("GET", "/quality-agreements/{number}"): [
        Probe("GET", lambda r: f"/api/v1/quality-agreements/{r.agreement.number}", api=True)],
    ("PATCH", "/quality-agreements/{number}"): [
        Probe("PATCH", lambda r: f"/api/v1/quality-agreements/{r.agreement.number}", api=True,
              data=lambda r, u: {"title": "Taken over by another sponsor", "reason": "segregation probe"})],
    ("POST", "/quality-agreements/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/quality-agreements/{r.agreement.number}/{a}", _signature, api=True,
              label=a)
        for t, a in _actions() if t == "sponsors.qualityagreement"
    ],
    ("GET", "/records/{type_name}/{reference}/signatures"): [
        Probe("GET", lambda r, t=t: f"/api/v1/records/{t}/{r.references[t]}/signatures", api=True, label=t)
        for t, _ in _kinds()],
    ("GET", "/records/{type_name}/{reference}/audit-events"): [
        Probe("GET", lambda r, t=t: f"/api/v1/records/{t}/{r.references[t]}/audit-events", api=True, label=t)
        for t, _ in _kinds()],
    ("GET", "/records/{type_name}/{reference}/attachments"): [
        Probe("GET", lambda r, t=t: f"/api/v1/records/{t}/{r.references[t]}/attachments", api=True, label=t)
        for t, _ in _kinds()],
    ("GET", "/materials/{code}"): [Probe("GET", lambda r: f"/api/v1/materials/{_sponsor_material(r)}", api=True)],
    ("GET", "/lots/{number}"): [Probe("GET", lambda r: f"/api/v1/lots/{r.references['materials.lot']}", api=True)],
    ("GET", "/lots/{number}/transactions"): [
        Probe("GET", lambda r: f"/api/v1/lots/{r.references['materials.lot']}/transactions", api=True)],
    ("POST", "/lots/{number}/transactions"): [
        Probe("POST", lambda r: f"/api/v1/lots/{r.references['materials.lot']}/transactions", api=True,
              data=lambda r, u: {"kind": "issue", "location": "QUAR-01", "quantity": 1, "for_label": "probe"})],
    ("GET", "/lots/{number}/trace"): [
        Probe("GET", lambda r: f"/api/v1/lots/{r.references['materials.lot']}/trace", api=True)],
    ("POST", "/lots/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/lots/{r.references['materials.lot']}/{a}", _signature, api=True,
              label=a) for a in ("release", "reject", "hold", "lift_hold")],
    ("POST", "/records/{type_name}/{reference}/attachments"): [
        Probe("POST", lambda r, t=t: f"/api/v1/records/{t}/{r.references[t]}/attachments", _upload, api=True,
              multipart=True, label=t)
        for t, _ in _kinds()],
    # --- Documents and training ---
    ("GET", "/documents/{number}"): [
        Probe("GET", lambda r: f"/api/v1/documents/{r.references['documents.document']}", api=True)],
    ("GET", "/documents/{number}/effective-version"): [
        Probe("GET", lambda r: f"/api/v1/documents/{r.references['documents.document']}/effective-version",
              api=True)],
    ("POST", "/documents/{number}/versions"): [
        Probe("POST", lambda r: f"/api/v1/documents/{r.references['documents.document']}/versions", api=True,
              data=lambda r, u: {"major_change": True, "change_summary": "segregation probe"})],
    ("POST", "/documents/{number}/make-obsolete"): [
        Probe("POST", lambda r: f"/api/v1/documents/{r.references['documents.document']}/make-obsolete",
              _signature, api=True)],
    ("GET", "/document-versions/{number}"): [
        Probe("GET", lambda r: f"/api/v1/document-versions/{r.references['documents.documentversion']}", api=True)],
    ("PATCH", "/document-versions/{number}"): [
        Probe("PATCH", lambda r: f"/api/v1/document-versions/{r.references['documents.documentversion']}",
              api=True, data=lambda r, u: {"content": "taken over"})],
    ("POST", "/document-versions/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/document-versions/{r.references['documents.documentversion']}/{a}",
              _signature, api=True, label=a) for a in ("submit", "review", "approve", "return", "withdraw")],
    ("GET", "/training/assignments/{number}"): [
        Probe("GET", lambda r: f"/api/v1/training/assignments/{r.references['training.trainingassignment']}",
              api=True)],
    ("POST", "/training/assignments/{number}/read-and-understood"): [
        Probe("POST", lambda r: f"/api/v1/training/assignments/{r.references['training.trainingassignment']}"
              "/read-and-understood", _signature, api=True)],
    # --- QC laboratory ---
    ("GET", "/qc/specifications/{number}"): [
        Probe("GET", lambda r: f"/api/v1/qc/specifications/{_spec(r)}", api=True)],
    ("POST", "/qc/specifications/{number}/revise"): [
        Probe("POST", lambda r: f"/api/v1/qc/specifications/{_spec(r)}/revise", api=True,
              data=lambda r, u: {"change_control": "CC-0", "reason": "segregation probe"})],
    ("POST", "/qc/specifications/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/qc/specifications/{_spec(r)}/{a}", _signature, api=True, label=a)
        for a in ("approve", "retire")],
    ("GET", "/qc/samples/{number}"): [Probe("GET", lambda r: f"/api/v1/qc/samples/{_qc_sample(r)}", api=True)],
    ("POST", "/qc/samples/{number}/receive"): [
        Probe("POST", lambda r: f"/api/v1/qc/samples/{_qc_sample(r)}/receive", api=True,
              data=lambda r, u: {"location": "QC fridge 9"})],
    ("POST", "/qc/samples/{number}/results"): [
        Probe("POST", lambda r: f"/api/v1/qc/samples/{_qc_sample(r)}/results", api=True,
              data=lambda r, u: {**_sample_result_form(r), "test": _sterility_test(r)})],
    ("GET", "/qc/results/{number}"): [Probe("GET", lambda r: f"/api/v1/qc/results/{_qc_result(r)}", api=True)],
    ("POST", "/qc/results/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/qc/results/{_qc_result(r)}/{a}", _signature, api=True, label=a)
        for a in ("review", "request_invalidation", "approve_invalidation", "decline_invalidation")],
    ("GET", "/qc/oos-investigations/{number}"): [
        Probe("GET", lambda r: f"/api/v1/qc/oos-investigations/{_oos(r)}", api=True)],
    ("POST", "/qc/oos-investigations/{number}/phase-one"): [
        Probe("POST", lambda r: f"/api/v1/qc/oos-investigations/{_oos(r)}/phase-one", api=True,
              data=lambda r, u: {"answers": [{"item": k, "answer": "yes", "note": ""} for k in _phase_one_answers()],
                                 "assignable_cause": ""})],
    ("POST", "/qc/oos-investigations/{number}/phase-two"): [
        Probe("POST", lambda r: f"/api/v1/qc/oos-investigations/{_oos(r)}/phase-two", api=True,
              data=lambda r, u: {"production_review": "segregation probe", "batch_impact": "segregation probe"})],
    ("POST", "/qc/oos-investigations/{number}/{action}"): [
        Probe("POST", lambda r, a=a: f"/api/v1/qc/oos-investigations/{_oos(r)}/{a}", _signature, api=True, label=a)
        for a in ("invalidate", "escalate", "close")],
    ("GET", "/qc/stability-studies/{number}"): [
        Probe("GET", lambda r: f"/api/v1/qc/stability-studies/{_study(r)}", api=True)],
    ("POST", "/qc/stability-pulls/{pull_id}/pull"): [
        Probe("POST", lambda r: f"/api/v1/qc/stability-pulls/{_pull(r)}/pull", api=True,
              data=lambda r, u: {"quantity": "1", "unit": "mL"})],
    # --- Disposition and certificates of analysis ---
    ("GET", "/release/batches/{number}/disposition"): [
        Probe("GET", lambda r: f"/api/v1/release/batches/{_batch(r)}/disposition", api=True)],
    ("POST", "/release/batches/{number}/disposition"): [
        Probe("POST", lambda r: f"/api/v1/release/batches/{_batch(r)}/disposition", _decision, api=True)],
    ("GET", "/release/lots/{number}/disposition"): [
        Probe("GET", lambda r: f"/api/v1/release/lots/{_disposition_lot(r)}/disposition", api=True)],
    ("POST", "/release/lots/{number}/disposition"): [
        Probe("POST", lambda r: f"/api/v1/release/lots/{_disposition_lot(r)}/disposition", _decision, api=True)],
    ("GET", "/release/notices/{number}"): [
        Probe("GET", lambda r: f"/api/v1/release/notices/{_notice(r)}", api=True)],
    ("POST", "/release/notices/{number}/notification"): [
        Probe("POST", lambda r: f"/api/v1/release/notices/{_notice(r)}/notification", _notification, api=True)],
    ("GET", "/release/batches/{number}/coa"): [
        Probe("GET", lambda r: f"/api/v1/release/batches/{_batch(r)}/coa", api=True)],
    ("GET", "/release/lots/{number}/coa"): [
        Probe("GET", lambda r: f"/api/v1/release/lots/{_released_lot(r)}/coa", api=True)],
}

# Requests whose body (not URL) names a sponsor or its record: refused the same way.
BODY_PROBES: list[Probe] = [
    # --- Patients: enrolling at another sponsor's treatment centre ---
    Probe("POST", lambda r: "/identity/patients/new/", label="page-enrol-at-another-sponsors-centre",
          data=lambda r, u: {"centre": _centre(r), "subject_id": "PROBE-1"}),
    Probe("POST", lambda r: "/api/v1/patients", api=True, label="api-enrol-at-another-sponsors-centre",
          data=lambda r, u: {"centre": _centre(r), "subject_id": "PROBE-2"}),
    # --- Custody: the body or query names another sponsor's shipment, therapy or container ---
    Probe("GET", lambda r: f"/identity/receive/?shipment={_shipment(r)}", label="page-receive-another-sponsors-shipment"),
    Probe("POST", lambda r: "/api/v1/shipments", api=True, label="api-ship-another-sponsors-therapy",
          data=lambda r, u: {"order": _unit_order(r), "direction": "inbound", "units": [_unit(r)], "courier": "probe",
                             "origin": "probe", "destination": "probe"}),
    Probe("POST", lambda r: "/identity/storage/scan/", label="page-store-another-sponsors-unit",
          data=lambda r, u: {"action": "move", "unit": _unit(r), "position": _free_position(r)}),
    Probe("POST", lambda r: "/api/v1/storage/moves", api=True, label="api-move-another-sponsors-unit",
          data=lambda r, u: {"unit": _unit(r), "position": _free_position(r)}),
    Probe("POST", lambda r: "/api/v1/storage/placements", api=True, label="api-place-another-sponsors-unit",
          data=lambda r, u: {"unit": _shipped_unit_scan(r), "position": _free_position(r)}),
    Probe("POST", lambda r: "/api/v1/storage/retrievals", api=True, label="api-retrieve-another-sponsors-unit",
          data=lambda r, u: {"unit": _unit(r), "reason": "probe"}),
    # --- Deviations ---
    Probe("POST", lambda r: "/quality/deviations/new/", label="page-raise-deviation-for-another-sponsor",
          data=lambda r, u: {"title": "Probe", "description": "probe", "sponsor": r.sponsor.code}),
    Probe("POST", lambda r: "/api/v1/deviations", api=True, label="api-raise-deviation-for-another-sponsor",
          data=lambda r, u: {"title": "Probe", "description": "probe", "sponsor": r.sponsor.code}),
    # --- CAPA ---
    Probe("POST", lambda r: "/quality/capas/new/", label="page-raise-capa-for-another-sponsor",
          data=lambda r, u: {"title": "Probe", "problem": "probe", "source": "audit", "sponsor": r.sponsor.code,
                             "owner": u.username}),
    Probe("POST", lambda r: "/api/v1/capas", api=True, label="api-raise-capa-for-another-sponsor",
          data=lambda r, u: {"title": "Probe", "problem": "probe", "source": "audit", "sponsor": r.sponsor.code}),
    Probe("POST", lambda r: "/api/v1/capas", api=True, label="api-raise-capa-for-another-sponsors-deviation",
          data=lambda r, u: {"title": "Probe", "problem": "probe", "deviation": r.references["quality.deviation"]}),
    Probe("POST", lambda r: "/materials/receive/", label="page-receive-other-sponsors-material",
          data=lambda r, u: {"material": _sponsor_material(r), "supplier": f"SUP-{r.sponsor.code}",
                             "supplier_lot": "PROBE-1", "quantity": "1", "location": "QUAR-01"}),
    Probe("POST", lambda r: "/api/v1/lots", api=True, label="api-receive-other-sponsors-material",
          data=lambda r, u: {"material": _sponsor_material(r), "supplier": f"SUP-{r.sponsor.code}",
                             "supplier_lot": "PROBE-2", "quantity": 1, "location": "QUAR-01"}),
    Probe("POST", lambda r: "/sponsors/quality-agreements/new/", label="page-new-agreement",
          data=lambda r, u: {"sponsor": r.sponsor.code, "title": "Agreement for someone else's sponsor",
                             "deviation_notification_days": "2"}),
    Probe("POST", lambda r: "/api/v1/quality-agreements", api=True, label="api-new-agreement",
          data=lambda r, u: {"sponsor": r.sponsor.code, "title": "Agreement for someone else's sponsor"}),
    Probe("POST", lambda r: "/api/v1/users", api=True, label="api-new-user-with-sponsor-access",
          data=lambda r, u: {"username": "new.starter", "full_name": "New Starter", "password": "Gr1ffin-Lantern-77",
                             "roles": ["operator"], "sponsors": [r.sponsor.pk], "reason": "probe"}),
    Probe("POST", lambda r: "/users/new/", label="page-new-user-with-sponsor-access",
          data=lambda r, u: {"username": "new.starter", "full_name": "New Starter", "password": "Gr1ffin-Lantern-77",
                             "roles": ["operator"], "sponsors": [str(r.sponsor.pk)], "reason": "probe"}),
    Probe("POST", lambda r: "/users/only.acme/", label="page-grant-self-sponsor-access",
          data=lambda r, u: {"action": "roles", "roles": [role.value for role in EVERY_STAFF_ROLE],
                             "sponsors": [str(s) for s in u.sponsor_ids()] + [str(r.sponsor.pk)],
                             "reason": "probe"}),
    # --- Documents and training ---
    Probe("POST", lambda r: "/documents/new/", label="page-new-document-for-another-sponsor",
          data=lambda r, u: {"doc_type": "sop", "title": "Probe", "content": "probe", "sponsor": r.sponsor.code}),
    Probe("POST", lambda r: "/api/v1/documents", api=True, label="api-new-document-for-another-sponsor",
          data=lambda r, u: {"doc_type": "sop", "title": "Probe", "sponsor": r.sponsor.code}),
    Probe("GET", lambda r: f"/api/v1/training/is-trained?document={r.references['documents.document']}",
          api=True, label="api-is-trained-on-another-sponsors-document"),
    # --- QC laboratory: a sample against another sponsor's specification or for another sponsor; a
    # specification of another sponsor's product ---
    Probe("POST", lambda r: "/qc/samples/new/", label="page-sample-against-another-sponsors-specification",
          data=lambda r, u: {"subject_type": "batches.batch", "subject_ref": _probe_batch(r, 1), "description": "probe",
                             "specification": _sample_spec(r), "sponsor": r.sponsor.code}),
    Probe("POST", lambda r: "/api/v1/qc/samples", api=True, label="api-sample-against-another-sponsors-specification",
          data=lambda r, u: {"subject_type": "batches.batch", "subject_ref": _probe_batch(r, 2), "description": "probe",
                             "specification": _sample_spec(r)}),
    Probe("POST", lambda r: "/api/v1/qc/samples", api=True, label="api-sample-for-another-sponsor",
          data=lambda r, u: {"subject_type": "batches.batch", "subject_ref": _probe_batch(r, 3), "description": "probe",
                             "sponsor": r.sponsor.code}),
    Probe("POST", lambda r: "/qc/specifications/new/", label="page-specification-of-another-sponsors-product",
          data=lambda r, u: {"code": "PROBE-SPEC-1", "title": "Probe", "stage": "release", "product": r.product_code,
                             "rounding": "half_up", "attribute_1": "Viability",
                             "method_1": _method_code(r), "criterion_1": "at_least", "lower_1": "70.0"}),
    Probe("POST", lambda r: "/api/v1/qc/specifications", api=True, label="api-specification-of-another-sponsors-product",
          data=lambda r, u: {"code": "PROBE-SPEC-2", "title": "Probe", "stage": "release", "product": r.product_code,
                             "criteria": [{"attribute": "Viability", "method": _method_code(r),
                                           "criterion": "at_least", "lower": "70.0"}]}),
]

# Sites, rooms, line clearances and equipment are the CDMO's own records (sponsor_scope None): every
# CDMO staff member with facilities.view sees them, and no sponsor's user has that permission.
FACILITIES_REASON = "facilities and equipment are CDMO-wide records (no sponsor); sponsor users lack facilities.view"
FACILITIES_ROUTES = [
    *(f"facilities/{route}" for route in (
        "rooms/<str:code>/", "rooms/<str:code>/cleanings/new/", "rooms/<str:code>/line-clearances/new/",
        "line-clearances/<str:number>/", "line-clearances/<str:number>/checks/",
        "equipment/<str:number>/", "equipment/<str:number>/edit/", "equipment/<str:number>/calibrations/new/",
        "equipment/<str:number>/maintenance/new/", "equipment/<str:number>/cleanings/new/",
        "equipment/<str:number>/uses/new/", "equipment/<str:number>/uses/<int:pk>/end/")),
    ("GET", "/rooms/{code}"), ("POST", "/rooms/{code}/status"), ("GET", "/rooms/{code}/cleanings"),
    ("POST", "/rooms/{code}/cleanings"), ("GET", "/line-clearances/{number}"),
    ("POST", "/line-clearances/{number}/checks"), ("POST", "/line-clearances/{number}/{action}"),
    ("GET", "/equipment/{number}"), ("PATCH", "/equipment/{number}"), ("GET", "/equipment/{number}/usability"),
    ("GET", "/equipment/{number}/calibrations"), ("POST", "/equipment/{number}/calibrations"),
    ("GET", "/equipment/{number}/maintenance"), ("POST", "/equipment/{number}/maintenance"),
    ("GET", "/equipment/{number}/cleanings"), ("POST", "/equipment/{number}/cleanings"),
    ("GET", "/equipment/{number}/uses"), ("POST", "/equipment/{number}/uses"),
    ("POST", "/equipment/{number}/uses/{use_id}/end"), ("POST", "/equipment/{number}/{action}"),
]

# Parameterised routes that name no sponsor's record, and why.
ENVMON_REASON = ("cleanrooms, their sampling locations, plans, EM samples, excursions, alert and action levels "
                 "and classifications are the CDMO's own (a room is shared by sponsors); the batches an excursion "
                 "names are listed only as far as the viewer may see their sponsor (tests/envmon)")
ENVMON_ROUTES = [
    "envmon/samples/<str:number>/", "envmon/samples/<str:number>/<str:action>/",
    "envmon/excursions/<str:number>/", "envmon/excursions/<str:number>/acknowledge/",
    "envmon/rooms/<str:room>/programme/", "envmon/rooms/<str:room>/programme/<str:action>/",
    "envmon/rooms/<str:code>/", "envmon/locations/<str:code>/", "envmon/levels/<str:number>/",
    "envmon/levels/<str:number>/edit/", "envmon/classifications/<str:number>/",
    "envmon/classifications/<str:number>/readings/", "envmon/classifications/<str:number>/pdf/",
    ("POST", "/envmon/locations/{code}/retire"), ("POST", "/envmon/rooms/{code}/floor-plan"),
    ("POST", "/envmon/plans/{plan_id}/retire"), ("GET", "/envmon/samples/{number}"),
    ("POST", "/envmon/samples/{number}/{action}"), ("GET", "/envmon/excursions/{number}"),
    ("POST", "/envmon/excursions/{number}/acknowledge"), ("GET", "/envmon/rooms/{code}/trend"),
    ("GET", "/envmon/level-sets/{number}"), ("PATCH", "/envmon/level-sets/{number}"),
    ("POST", "/envmon/level-sets/{number}/{action}"), ("GET", "/envmon/classifications/{number}"),
    ("POST", "/envmon/classifications/{number}/readings"), ("POST", "/envmon/classifications/{number}/{action}"),
]

NOT_SPONSOR_SCOPED = {
    **dict.fromkeys(ENVMON_ROUTES, ENVMON_REASON),
    "users/<str:username>/": "user accounts are CDMO-wide; sponsor access changes are probed in BODY_PROBES",
    ("POST", "/users/{username}/unlock"): "user accounts are CDMO-wide (system administrators)",
    ("POST", "/users/{username}/deactivate"): "user accounts are CDMO-wide (system administrators)",
    **dict.fromkeys(FACILITIES_ROUTES, FACILITIES_REASON),
    # --- Risk assessment ---
    "quality/risk-methods/<str:number>/": "risk methods (scales and level rules) are the CDMO's own, no sponsor's",
    # --- Cryostorage ---
    **dict.fromkeys([
        "identity/storage/<str:code>/", ("GET", "/storage/freezers/{code}"), ("POST", "/storage/freezers/{code}/racks"),
        ("POST", "/storage/freezers/{code}/racks/{rack}/boxes"), ("POST", "/storage/freezers/{code}/retirement"),
        ("POST", "/storage/freezers/{code}/alarms"), ("POST", "/storage/alarms/{alarm_id}/acknowledgement")],
        "freezers, racks, boxes and their alarms are the CDMO's own; the units in them are shown with their "
        "identifiers only to who may see their sponsor (LIST_PAGES and tests/identity/test_storage_views.py)"),
    # --- Training ---
    "training/curricula/<int:pk>/": "curricula are CDMO-wide; a sponsor's documents in one are listed and kept "
                                    "only for those who may see that sponsor (tests/training/test_pages.py)",
    **dict.fromkeys(["training/people/<str:username>/", "training/people/<str:username>/pdf/",
                     ("GET", "/training/people/{username}/record")],
                    "people are CDMO-wide; their training on a sponsor's documents is listed only to those who "
                    "may see that sponsor (tests/training/test_pages.py)"),
    # --- QC laboratory ---
    **dict.fromkeys(["qc/methods/<str:code>/", "qc/methods/<str:code>/edit/", ("GET", "/qc/methods/{code}")],
                    "test methods are the CDMO's own laboratory methods (no sponsor); the specifications using one "
                    "are listed only as far as the viewer may see their sponsor (LIST_PAGES)"),
}


def _django_routes(patterns=None, prefix=""):
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from _django_routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _api_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield method, (prefix.rstrip("/") + path) or "/"


API_PREFIX = "api/v1/"


def test_every_parameterised_route_has_a_segregation_probe():
    page_routes = {r for r in _django_routes() if not r.startswith(API_PREFIX) and "<" in r}
    api_routes = {op for op in _api_operations() if "{" in op[1]}
    assert page_routes, "the URL resolver lists no parameterised page"
    assert api_routes, "the API lists no parameterised operation"
    covered = set(PAGE_PROBES) | set(API_PROBES) | set(NOT_SPONSOR_SCOPED)
    missing = sorted(map(str, (page_routes | api_routes) - covered))
    assert not missing, (
        f"routes with no sponsor-segregation probe: {missing}; add one to PAGE_PROBES / API_PROBES, "
        "or say in NOT_SPONSOR_SCOPED why the route names no sponsor's record")
    stale = sorted(map(str, covered - (page_routes | api_routes)))
    assert not stale, f"entries in the segregation tables for routes that no longer exist: {stale}"
    for probes in [*PAGE_PROBES.values(), *API_PROBES.values()]:
        assert probes, "a route in the table has no probe"


def test_every_api_route_is_an_operation_of_the_one_api():
    """All of /api/v1 comes from the Ninja API, so enumerating its operations misses nothing."""
    ninja_paths = {API_PREFIX + path.lstrip("/").replace("{", "<").replace("}", ">") for _, path in _api_operations()}
    docs = {API_PREFIX + "openapi.json", API_PREFIX + "docs", API_PREFIX, API_PREFIX + "^"}
    assert {r for r in _django_routes() if r.startswith(API_PREFIX)} - docs == ninja_paths


def test_every_kind_of_record_has_records_of_both_sponsors(records_a, records_b):
    kinds = {kind.type_name for kind in _sponsor_kinds()}
    assert kinds, "no record kinds are registered"
    assert set(records_a.references) == set(records_b.references) == kinds


def sponsor_state(sponsor) -> dict:
    """Every row that belongs to `sponsor`, for every model that is scoped by sponsor, and who may see it."""
    state = {}
    for model in apps.get_models():
        path = getattr(model, "sponsor_scope", None)
        if path is None:
            continue
        rows = model._default_manager.filter(**{f"{path}__in": [sponsor.pk]}).order_by("pk").values()
        state[model._meta.label] = [dict(row) for row in rows]
    state["users with access"] = sorted(sponsor.users.values_list("username", flat=True))
    return state


def _build_named_records(probe: Probe, records: SponsorRecords, user) -> None:
    """Build the records a probe names before the state is taken: records are built lazily."""
    probe.url(records)
    if probe.data:
        probe.data(records, user)


def _send(client, probe: Probe, records: SponsorRecords, user, headers=None):
    url = probe.url(records)
    data = probe.data(records, user) if probe.data else None
    method = probe.method.lower()
    if probe.multipart:
        return getattr(client, method)(url, data, headers=headers)
    if probe.api and data is not None:
        return getattr(client, method)(url, data, content_type="application/json", headers=headers)
    if data is not None:
        return getattr(client, method)(url, data, headers=headers)
    return getattr(client, method)(url, headers=headers)


def _probes(table):
    for route, probes in table.items():
        name = route if isinstance(route, str) else " ".join(route)
        for probe in probes:
            yield pytest.param(probe, id=f"{probe.method} {name} {probe.label}".strip())


@pytest.mark.parametrize("probe", [*_probes(PAGE_PROBES), *_probes(API_PROBES)])
def test_record_of_another_sponsor_is_not_found_and_unchanged(probe, user_a, records_a, records_b):
    headers = bearer(user_a) if probe.api else None
    client = signed_in(user_a)
    _build_named_records(probe, records_b, user_a)
    before = sponsor_state(records_b.sponsor)

    response = _send(client, probe, records_b, user_a, headers)

    assert response.status_code == 404, response.content[:500]
    body = response.content.decode(errors="replace")
    if probe.api:
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"]
    for text in records_b.texts:
        assert text not in body
    assert sponsor_state(records_b.sponsor) == before
    user_a.forget_cached_access()
    assert user_a.sponsor_ids() == [records_a.sponsor.pk]

    # The same request for the user's own sponsor reaches the record: the 404 above is segregation.
    control = _send(client, probe, records_a, user_a, headers)
    assert control.status_code != 404, control.content[:500]
    assert control.status_code < 500


@pytest.mark.parametrize("probe", [pytest.param(p, id=p.label) for p in BODY_PROBES])
def test_write_naming_another_sponsor_changes_nothing_of_it(probe, user_a, records_a, records_b):
    headers = bearer(user_a) if probe.api else None
    client = signed_in(user_a)
    _build_named_records(probe, records_b, user_a)
    before = sponsor_state(records_b.sponsor)
    users_before = User.objects.count()

    response = _send(client, probe, records_b, user_a, headers)

    assert response.status_code == 404, response.content[:500]
    if probe.api:
        assert response.json()["detail"]
    assert sponsor_state(records_b.sponsor) == before
    assert User.objects.count() == users_before
    user_a.forget_cached_access()
    assert user_a.sponsor_ids() == [records_a.sponsor.pk]

    control = _send(client, probe, records_a, user_a, headers)
    assert control.status_code in (200, 201, 302), control.content[:500]


def test_administrator_of_one_sponsor_keeps_other_sponsors_access_of_a_user(user_a, records_a, records_b,
                                                                             make_user):
    """Saving a user's roles on the user page must not drop the sponsors the administrator cannot see."""
    both = make_user("both.sponsors", Role.OPERATOR, sponsors=[records_a.sponsor, records_b.sponsor])
    before = sponsor_state(records_b.sponsor)

    response = signed_in(user_a).post(f"/users/{both.username}/", {
        "action": "roles", "roles": ["operator", "supervisor"], "sponsors": [str(records_a.sponsor.pk)],
        "reason": "now also a supervisor"})

    assert response.status_code == 302, response.content[:500]
    both.forget_cached_access()
    assert sorted(both.role_codes) == ["operator", "supervisor"]
    assert sorted(both.sponsor_ids()) == sorted([records_a.sponsor.pk, records_b.sponsor.pk])
    assert sponsor_state(records_b.sponsor) == before


def _api_list(client, headers, path):
    return client.get(path, {"limit": 1000}, headers=headers)


LIST_PAGES = [
    ("/", None),
    ("/identity/patients/", "sponsor"),
    ("/identity/patients/new/", None),
    ("/identity/centres/", "sponsor"),
    ("/identity/shipments/", None),
    ("/identity/board/", None),
    ("/identity/receive/", None),
    ("/identity/storage/", None),
    ("/identity/storage/LN2-01/", None),
    ("/api/v1/shipments", None),
    ("/api/v1/in-flight", None),
    ("/api/v1/storage/freezers/LN2-01", None),
    ("/api/v1/patients", None),
    ("/api/v1/treatment-centres", None),
    ("/processes/", "sponsor"),
    ("/api/v1/mbrs", None),
    ("/batches/", "sponsor"),
    ("/batches/new/", None),
    ("/api/v1/batches", None),
    ("/sponsors/", "sponsor"),
    ("/sponsors/quality-agreements/", "agreement"),
    ("/sponsors/quality-agreements/?status=in_review", "agreement"),
    ("/sponsors/quality-agreements/new/", "sponsor"),
    ("/audit-trail/", "agreement"),
    ("/audit-trail/?format=csv", "agreement"),
    ("/audit-trail/?record_type=sponsors.qualityagreement&record_id={b_pk}", "empty"),
    ("/users/?state=all", None),
    ("/users/new/", "sponsor"),
    ("/users/beta.author/", None),
    ("/security-alerts/", None),
    ("/quality/deviations/", None),
    # --- Deviations ---
    ("/quality/deviations/?overdue=1&sort=due", None),
    ("/quality/deviations/trends/", None),
    ("/quality/deviations/new/", "sponsor"),
    ("/api/v1/deviations", None),
    # --- CAPA ---
    ("/quality/capas/", None),
    ("/quality/capas/new/", "sponsor"),
    ("/api/v1/capas", None),
    ("/api/v1/sponsors", "sponsor"),
    ("/api/v1/products", "sponsor"),
    ("/api/v1/quality-agreements", "agreement"),
    ("/api/v1/quality-agreements?status=in_review", "agreement"),
    ("/api/v1/audit-events?limit=1000", "agreement"),
    ("/api/v1/audit-events?record_type=sponsors.qualityagreement&record_id={b_pk}", "empty"),
    ("/api/v1/me", None),
    # --- Documents and training ---
    ("/documents/", "sponsor"),
    ("/documents/?type=specification&sort=-number", "sponsor"),
    ("/documents/review-due/", None),
    ("/training/", None),
    ("/training/matrix/", None),
    ("/training/overdue/", None),
    ("/training/curricula/", None),
    ("/training/curricula/new/", None),
    ("/api/v1/documents", "sponsor"),
    ("/api/v1/training/assignments", None),
    # --- Change control / Risk assessment / Dashboard ---
    ("/quality/changes/", "sponsor"),
    ("/quality/changes/?status=open&sort=-number&q=Change", "sponsor"),
    ("/quality/risk-assessments/", "sponsor"),
    ("/quality/dashboard/", None),
    ("/quality/dashboard/tasks/", None),
    ("/api/v1/change-controls", None),
    ("/api/v1/risk-assessments", None),
    ("/api/v1/quality/dashboard", None),
    # --- QC laboratory ---
    ("/qc/worklist/", "sponsor"),
    ("/qc/worklist/?tab=review", "sponsor"),
    ("/qc/samples/", "sponsor"),
    ("/qc/samples/new/", "sponsor"),
    ("/qc/samples/new/lot/", None),
    ("/qc/oos/", "sponsor"),
    ("/qc/specifications/", "sponsor"),
    ("/qc/specifications/new/", None),
    ("/qc/methods/", None),
    ("/qc/methods/LAL/", None),
    ("/qc/stability/", "sponsor"),
    ("/qc/stability/new/", None),
    ("/qc/stability/pulls-due/", "sponsor"),
    ("/api/v1/qc/methods", None),
    ("/api/v1/qc/methods/LAL", None),
    ("/api/v1/qc/specifications", None),
    ("/api/v1/qc/samples", None),
    ("/api/v1/qc/oos-investigations", None),
    ("/api/v1/qc/stability-studies", None),
    ("/api/v1/qc/stability-pulls/due", None),
    # --- Disposition ---
    ("/release/", "sponsor"),
    ("/release/?view=decided", "sponsor"),
    ("/api/v1/release/dispositions", None),
    ("/api/v1/release/dispositions?status=open", None),
    ("/api/v1/release/notices", None),
]


def _texts_outside_cdmo_logbooks(records: SponsorRecords, url: str) -> list[str]:
    """The audit trail of the CDMO's own records (an equipment logbook, a room's line clearance, a
    CDMO-owned lot) names the batch that used them, by number only: a known limit of segregation,
    written down in the validation notes. Everything else of the sponsor stays out of those lists."""
    if "audit" not in url:
        return records.texts
    return [t for t in records.texts if t != records.references.built().get("batches.batch")]


@pytest.mark.parametrize(("url", "own"), LIST_PAGES)
def test_lists_never_show_records_of_another_sponsor(url, own, user_a, records_a, records_b):
    dict(records_a.references), dict(records_b.references)  # every kind of record exists for both sponsors
    url = url.format(b_pk=records_b.agreement.pk)
    headers = bearer(user_a) if url.startswith("/api/") else None

    response = signed_in(user_a).get(url, headers=headers)

    assert response.status_code == 200, response.content[:500]
    body = response.content.decode()
    for text in _texts_outside_cdmo_logbooks(records_b, url):
        assert text not in body
    if own == "sponsor":  # the list does list the user's own sponsor's records
        assert records_a.sponsor.code in body or records_a.sponsor.name in body
    elif own == "agreement":
        assert records_a.agreement.number in body
    elif own == "empty":  # a filter naming the other sponsor's record finds nothing
        assert response.json()["items"] == [] if headers else "No audit events match." in body


def _stability_spec(r):
    """An approved stability specification of the sponsor's product (the study's)."""
    from opencdmo.qc.models import StabilityStudy  # noqa: PLC0415

    return StabilityStudy.objects.select_related("specification").get(number=_study(r)).specification


@pytest.mark.parametrize("api_call", [False, True], ids=["page", "api"])
def test_stability_study_on_another_sponsors_specification_is_refused(api_call, user_a, records_a, records_b):
    """The new-study form names its specification in the body: another sponsor's is refused (422, the same
    message as for one that does not exist) and nothing of that sponsor changes; the user's own is accepted."""
    client = signed_in(user_a)
    headers = bearer(user_a) if api_call else None

    def post(records):
        spec = _stability_spec(records)
        form = {"title": "Probe study", "subject_ref": "B-PROBE-9", "start_date": "2026-03-02", "window_days": "7"}
        if api_call:
            return client.post("/api/v1/qc/stability-studies", {
                **form, "specification": spec.number, "conditions": ["-80 °C"], "time_points": [0, 3],
                "window_days": 7}, content_type="application/json", headers=headers)
        return client.post("/qc/stability/new/", {**form, "specification": str(spec.pk), "conditions": "-80 °C",
                                                  "time_points": "0, 3"})

    _stability_spec(records_a), _stability_spec(records_b)
    before = sponsor_state(records_b.sponsor)

    response = post(records_b)

    assert response.status_code == 422, response.content[:500]
    body = response.content.decode()
    assert "of your sponsors" in body
    for text in records_b.texts:
        assert text not in body
    assert sponsor_state(records_b.sponsor) == before
    control = post(records_a)
    assert control.status_code in (201, 302), control.content[:500]
