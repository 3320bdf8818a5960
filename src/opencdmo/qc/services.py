"""The QC laboratory's writes. Every function takes the acting user first, checks permission and
the laboratory's rules, and writes its audit event in the same transaction."""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from opencdmo.core import audit, clock, errors, records, registry, scoping
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, NotFound, RuleViolation
from opencdmo.core.inputs import text as _text
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped, may_see_sponsor
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import invalid_input
from opencdmo.documents import selectors as documents_selectors
from opencdmo.documents.models import Document
from opencdmo.facilities import selectors as facilities_selectors
from opencdmo.facilities.models import Equipment
from opencdmo.materials.models import Lot, Material
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality import services as quality_services
from opencdmo.quality.models import ChangeControl
from opencdmo.sponsors.models import Product

from . import models, selectors, signals, workflows
from .domain import criteria, oos, stability, trend
from .workflows import specification_workflow

# --- Methods and specifications ---

MANAGE_METHODS, AUTHOR_SPECIFICATIONS = "qc.manage_methods", "qc.author_specifications"
METHOD_FIELDS = {"name", "unit", "decimals", "choices", "instrument_kinds", "sop", "turnaround_days", "is_active"}
MAX_DECIMALS = 6
MAX_CRITERIA = 60
_NUMERIC_CRITERIA = criteria.NUMERIC_CRITERIA
_LOWER_ONLY, _UPPER_ONLY = {"at_least", "more_than"}, {"at_most", "less_than"}


def _spec_save(actor, obj, *, update: dict | None = None, reason: str = ""):
    """create_record / update_record, a model's refusal of a value as a RuleViolation naming the field."""
    try:
        if update is None:
            return create_record(actor, obj, reason=reason)
        return update_record(actor, obj, reason=reason, **update)
    except ValidationError as exc:
        raise RuleViolation(invalid_input(exc, type(obj))) from None


def _spec_text(value, what: str, *, max_length: int, required: bool = True) -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ("" if value is None else " ".join(str(value).split()))
    if required and not text:
        raise RuleViolation(f"Give {what}.")
    if len(text) > max_length:
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is too long: at most {max_length} characters.")
    return text


def _spec_decimals(value, what: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RuleViolation(f"{what}: give the reported decimals as a whole number from 0 to {MAX_DECIMALS}.") from None
    if not 0 <= number <= MAX_DECIMALS:
        raise RuleViolation(f"{what}: reported decimals must be from 0 to {MAX_DECIMALS}, not {number}.")
    return number


def _spec_number(value, what: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if "," in str(value):  # '69,5' is 69.5 to some and 695 to others: neither is guessed
        raise RuleViolation(f"{what} '{str(value)[:40]}' has a comma: write it with a decimal point and no "
                            "thousands separator, e.g. 69.5 or 10000.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleViolation(f"{what} '{str(value)[:40]}' is not a number; write it with digits, e.g. 70.0.") from None
    if not number.is_finite():
        raise RuleViolation(f"{what} must be a finite number.")
    if number.adjusted() >= 20 or -number.as_tuple().exponent > 10:
        raise RuleViolation(f"{what} {number} cannot be stored: at most 20 digits before and 10 after the point.")
    return number


def _spec_turnaround(value) -> int:
    try:
        days = int(str(value).strip())
    except ValueError:
        raise RuleViolation("Give the turnaround in whole days (e.g. 14 for sterility).") from None
    if not 0 <= days <= 365:
        raise RuleViolation(f"The turnaround must be from 0 to 365 days, not {days}.")
    return days


def _spec_choices(result_kind: str, choices) -> list[str]:
    if isinstance(choices, str):
        choices = [c for c in choices.replace("\n", ";").split(";")]
    answers = []
    for raw in choices or ():
        answer = _spec_text(raw, "an answer", max_length=100, required=False)
        if answer and answer.lower() not in {a.lower() for a in answers}:
            answers.append(answer)
    if result_kind == models.ResultKind.CHOICE and len(answers) < 2:
        raise RuleViolation("A method reporting one of a list needs at least two answers to choose from.")
    if result_kind != models.ResultKind.CHOICE and answers:
        raise RuleViolation("Only a method reporting one of a list has answers to choose from; leave them empty.")
    if len(answers) > 30:
        raise RuleViolation("A method may list at most 30 answers.")
    return answers


def _spec_instrument_kinds(kinds) -> list[str]:
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",")]
    chosen = []
    for kind in kinds or ():
        kind = str(kind).strip()
        if not kind:
            continue
        if kind not in Equipment.Kind.values:
            raise RuleViolation(f"'{kind[:40]}' is not a kind of equipment; use one of: "
                                     f"{', '.join(Equipment.Kind.values)}.")
        if kind not in chosen:
            chosen.append(kind)
    return chosen


def _spec_sop(actor, sop):
    if sop is None or sop == "":
        return None
    number = sop.number if isinstance(sop, Document) else str(sop).strip()
    document = get_scoped(Document, actor, number=number)
    if document.doc_type != Document.Type.SOP:
        raise RuleViolation(f"{document.number} is a {document.get_doc_type_display().lower()}, not an SOP: "
                                 "a test method follows a standard operating procedure.")
    return document


def _spec_method_fields(actor, *, result_kind, unit, decimals, choices, instrument_kinds, sop, turnaround_days):
    if result_kind not in models.ResultKind.values:
        raise RuleViolation(f"What the method reports must be one of: {', '.join(models.ResultKind.values)}.")
    numeric = result_kind == models.ResultKind.NUMERIC
    decimals = _spec_decimals(decimals, "The method")
    unit = _spec_text(unit, "the unit", max_length=32, required=False)
    if not numeric and (decimals is not None or unit):
        raise RuleViolation("Unit and reported decimals belong to a method reporting a number; leave them empty.")
    return {"unit": unit, "decimals": decimals, "choices": _spec_choices(result_kind, choices),
            "instrument_kinds": _spec_instrument_kinds(instrument_kinds), "sop": _spec_sop(actor, sop),
            "turnaround_days": _spec_turnaround(turnaround_days)}


@transaction.atomic
def create_method(actor, *, code: str, name: str, result_kind: str, unit: str = "", decimals=None, choices=(),
                  instrument_kinds=(), sop=None, turnaround_days=1) -> models.TestMethod:
    """A test method: what it reports (its result definition), its SOP and the instrument kinds it runs on."""
    require(actor, MANAGE_METHODS, to="manage test methods")
    code = _spec_text(code, "the method a code", max_length=32).upper()
    name = _spec_text(name, "the method's name", max_length=200)
    fields = _spec_method_fields(actor, result_kind=result_kind, unit=unit, decimals=decimals, choices=choices,
                                 instrument_kinds=instrument_kinds, sop=sop, turnaround_days=turnaround_days)
    taken = Conflict(f"A test method with code {code} exists already: choose another code, or change that one.")
    if models.TestMethod.objects.filter(code__iexact=code).exists():
        raise taken
    try:
        return _spec_save(actor, models.TestMethod(code=code, name=name, result_kind=result_kind, **fields))
    except IntegrityError:  # the same code added at the same moment
        raise taken from None


@transaction.atomic
def update_method(actor, method: models.TestMethod, *, reason: str, **changes) -> models.TestMethod:
    """Change a method (what it reports stays: criteria judge by it); `is_active=False` deactivates it."""
    require(actor, MANAGE_METHODS, to="manage test methods")
    method = get_scoped(models.TestMethod.objects.select_for_update(), actor, pk=method.pk)
    if unknown := changes.keys() - METHOD_FIELDS:
        raise RuleViolation(f"These fields of a method cannot be changed: {', '.join(sorted(unknown))}.")
    reason = _spec_text(reason, "a reason for changing the method", max_length=2000)
    current = {"unit": method.unit, "decimals": method.decimals, "choices": method.choices,
               "instrument_kinds": method.instrument_kinds, "sop": method.sop,
               "turnaround_days": method.turnaround_days}
    fields = _spec_method_fields(actor, result_kind=method.result_kind,
                                 **{**current, **{k: v for k, v in changes.items() if k in current}})
    update = {k: v for k, v in fields.items() if k in changes}
    redefined = sorted(k for k in ("unit", "decimals", "choices") if k in update and update[k] != current[k])
    if redefined:
        used = (models.Specification.objects.filter(tests__method=method).distinct()
                .order_by("number").values_list("number", flat=True))
        if used:
            # Criteria judge results by what the method reports: changing it under them would change
            # approved limits without a revision.
            raise RuleViolation(f"{method.code} is used by {', '.join(used[:5])}: its result definition "
                                     f"({', '.join(redefined)}) cannot change; add a new method and revise the "
                                     "specifications instead.")
    if "name" in changes:
        update["name"] = _spec_text(changes["name"], "the method's name", max_length=200)
    if "is_active" in changes:
        update["is_active"] = bool(changes["is_active"])
    return _spec_save(actor, method, update=update, reason=reason)


def _spec_method(method) -> models.TestMethod:
    if isinstance(method, models.TestMethod):
        return method
    code = str(method or "").strip()
    found = models.TestMethod.objects.filter(code__iexact=code).first() if code else None
    if found is None:
        raise RuleViolation(f"No test method has the code '{code[:32]}': choose one of the laboratory's methods.")
    return found


def _spec_criterion(index: int, raw: dict) -> dict:
    """One criterion as given, checked against what its method reports; the fields of a SpecificationTest."""
    if not isinstance(raw, dict):
        raise RuleViolation(f"Criterion {index} is not a set of fields (attribute, method, criterion, limits).")
    attribute = _spec_text(raw.get("attribute"), f"the attribute criterion {index} tests (e.g. Viability)",
                           max_length=200)
    label = f"Criterion {index} ({attribute})"
    method = _spec_method(raw.get("method"))
    if not method.is_active:
        raise RuleViolation(f"{label}: method {method.code} is no longer in use; choose an active method.")
    kind = raw.get("criterion") or ""
    if kind not in models.SpecificationTest.Criterion.values:
        raise RuleViolation(f"{label}: the criterion must be one of: "
                                 f"{', '.join(models.SpecificationTest.Criterion.values)}.")
    result_kind = method.result_kind
    numeric = result_kind == models.ResultKind.NUMERIC
    lower = _spec_number(raw.get("lower"), f"{label}: the lower limit")
    upper = _spec_number(raw.get("upper"), f"{label}: the upper limit")
    expected = _spec_text(raw.get("expected"), f"{label}: the expected answer", max_length=200, required=False)
    unit = _spec_text(raw.get("unit"), f"{label}: the unit", max_length=32, required=False)
    decimals = _spec_decimals(raw.get("decimals"), label)
    if not numeric and (decimals is not None or unit):
        raise RuleViolation(f"{label}: unit and reported decimals apply only to a numeric method, and "
                                 f"{method.code} reports {method.get_result_kind_display().lower()}.")
    if kind in _NUMERIC_CRITERIA and not numeric:
        raise RuleViolation(f"{label}: a numeric limit needs a method that reports a number, and {method.code} "
                                 f"reports {method.get_result_kind_display().lower()}.")
    if kind == "range":
        if lower is None or upper is None:
            raise RuleViolation(f"{label}: a range needs both a lower and an upper limit.")
        if lower > upper:
            raise RuleViolation(f"{label}: the lower limit {lower} is above the upper limit {upper}.")
    elif kind in _LOWER_ONLY:
        if lower is None:
            raise RuleViolation(f"{label}: '{kind.replace('_', ' ')}' needs a lower limit.")
        if upper is not None:
            raise RuleViolation(f"{label}: '{kind.replace('_', ' ')}' takes only a lower limit; "
                                     "use a range for two limits.")
    elif kind in _UPPER_ONLY:
        if upper is None:
            raise RuleViolation(f"{label}: '{kind.replace('_', ' ')}' needs an upper limit.")
        if lower is not None:
            raise RuleViolation(f"{label}: '{kind.replace('_', ' ')}' takes only an upper limit; "
                                     "use a range for two limits.")
    elif kind == "equals":
        if numeric:
            value = lower if lower is not None else _spec_number(expected, f"{label}: the expected value")
            if value is None:
                raise RuleViolation(f"{label}: 'equals' on a numeric method needs the expected number.")
            lower, upper, expected = value, None, ""
        else:
            if not expected:
                raise RuleViolation(f"{label}: 'equals' needs the expected answer.")
            allowed = (method.choices if result_kind == models.ResultKind.CHOICE
                       else criteria.ANSWERS.get(result_kind))
            if allowed is not None:
                match = next((a for a in allowed if a.lower() == expected.lower()), None)
                if match is None:
                    raise RuleViolation(f"{label}: the expected answer must be one of: {', '.join(allowed)}.")
                expected = match
            if lower is not None or upper is not None:
                raise RuleViolation(f"{label}: 'equals' on a {result_kind} method takes no numeric limits.")
    elif kind == "not_detected":
        if result_kind not in (models.ResultKind.DETECTION, models.ResultKind.GROWTH):
            raise RuleViolation(f"{label}: 'not detected / no growth' needs a detection or growth method, and "
                                     f"{method.code} reports {method.get_result_kind_display().lower()}.")
        if lower is not None or upper is not None or expected:
            raise RuleViolation(f"{label}: 'not detected / no growth' takes no limits.")
    elif kind == "report_only" and (lower is not None or upper is not None or expected):
        raise RuleViolation(f"{label}: 'report only' takes no limits.")
    if kind != "equals" and expected:
        raise RuleViolation(f"{label}: an expected answer belongs only to an 'equals' criterion.")
    reported = decimals if decimals is not None else method.decimals
    for limit in (lower, upper):
        if limit is not None and reported is not None and -limit.normalize().as_tuple().exponent > reported:
            # A result is rounded to the reported decimals before comparison: a finer limit could never be met
            # as written, and would be printed rounded.
            raise RuleViolation(f"{label}: the limit {limit} has more decimals than the {reported} a result is "
                                     "reported with; write it to the reported decimals or report more.")
    return {"attribute": attribute, "method": method, "criterion": kind, "lower": lower, "upper": upper,
            "expected": expected, "unit": unit, "decimals": decimals,
            "may_be_pending_at_release": bool(raw.get("may_be_pending_at_release", False))}


def _spec_criteria_of(tests) -> list[dict]:
    tests = list(tests or ())
    if len(tests) > MAX_CRITERIA:
        raise RuleViolation(f"A specification may have at most {MAX_CRITERIA} criteria.")
    checked = [_spec_criterion(index, raw) for index, raw in enumerate(tests, 1)]
    seen = set()
    for fields in checked:
        if fields["attribute"].lower() in seen:
            raise RuleViolation(f"The attribute '{fields['attribute']}' is listed twice: each criterion "
                                     "tests a different attribute.")
        seen.add(fields["attribute"].lower())
    return checked


def _spec_rounding(rounding) -> str:
    if rounding not in criteria.ROUNDING:
        raise RuleViolation(f"The rounding rule must be one of: {', '.join(criteria.ROUNDING)}.")
    return rounding


def _spec_subject(actor, stage: str, product, material):
    """(product, material, sponsor) of a new specification: a material at the incoming stage, else a product."""
    if stage not in models.Stage.values:
        raise RuleViolation(f"The stage must be one of: {', '.join(models.Stage.values)}.")
    if product not in (None, "") and material not in (None, ""):
        raise RuleViolation("A specification is of one product or one material, not both.")
    if stage == models.Stage.INCOMING:
        if material in (None, ""):
            raise RuleViolation("An incoming specification is of a material: choose the material.")
        code = material.code if isinstance(material, Material) else str(material).strip()
        material = get_scoped(Material, actor, code=code)
        return None, material, material.sponsor
    if product in (None, ""):
        raise RuleViolation(f"A{'n' if stage == 'in_process' else ''} {stage.replace('_', '-')} specification "
                                 "is of a product: choose the product.")
    code = product.code if isinstance(product, Product) else str(product).strip()
    product = get_scoped(Product.objects.select_related("program__sponsor"), actor, code=code)
    return product, None, product.program.sponsor


def _spec_add_tests(actor, spec, checked: list[dict], *, start: int = 1, reason: str = "") -> None:
    for position, fields in enumerate(checked, start):
        _spec_save(actor, models.SpecificationTest(specification=spec, position=position, **fields),
                   reason=reason)


@transaction.atomic
def create_specification(actor, *, code: str, title: str, stage: str, product=None, material=None,
                         rounding: str = "half_up", tests=()) -> models.Specification:
    """A draft specification, revision 1, with its acceptance criteria; the sponsor is the product's
    (or the material's; none for the CDMO's own material)."""
    require(actor, AUTHOR_SPECIFICATIONS, to="author specifications")
    code = _spec_text(code, "the specification a code (e.g. HLX-101-REL)", max_length=64).upper()
    title = _spec_text(title, "the specification a title", max_length=200)
    product, material, sponsor = _spec_subject(actor, stage, product, material)
    rounding = _spec_rounding(rounding)
    checked = _spec_criteria_of(tests)
    if models.Specification.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A specification with code {code} exists already: revise it under a change control, "
                            "or choose another code.")
    try:
        spec = _spec_save(actor, models.Specification(
            code=code, revision=1, title=title, stage=stage, sponsor=sponsor, product=product, material=material,
            rounding=rounding, status=specification_workflow.initial))
    except IntegrityError:  # the same code drafted at the same moment
        raise Conflict(f"A specification with code {code} exists already.") from None
    _spec_add_tests(actor, spec, checked)
    return spec


def _spec_locked(actor, spec) -> models.Specification:
    return get_scoped(models.Specification.objects.select_for_update(), actor, pk=spec.pk)


@transaction.atomic
def update_specification(actor, spec: models.Specification, *, reason: str = "", title=None, rounding=None,
                         tests=None) -> models.Specification:
    """Change a draft: title, rounding, and its criteria (each position changed in place, new ones added).
    A criterion is never deleted: give every existing one (the list may only grow)."""
    require(actor, AUTHOR_SPECIFICATIONS, to="author specifications")
    spec = _spec_locked(actor, spec)
    if spec.status != "draft":
        raise RuleViolation(f"{spec.number} is {specification_workflow.label(spec.status)}: only a draft is "
                                 "changed; revise it under a change control instead.")
    update = {}
    if title is not None:
        update["title"] = _spec_text(title, "the specification a title", max_length=200)
    if rounding is not None:
        update["rounding"] = _spec_rounding(rounding)
    checked = None
    if tests is not None:
        checked = _spec_criteria_of(tests)
        existing = list(spec.tests.select_for_update().order_by("position"))
        if len(checked) < len(existing):
            raise RuleViolation(f"{spec.number} has {len(existing)} criteria and criteria are never deleted: "
                                     "give every one of them (change what is wrong, add what is missing).")
        if spec.samples.exists() or models.TestResult.objects.filter(test__specification=spec).exists():
            raise RuleViolation(f"{spec.number} already has samples: its criteria cannot change.")
    if update:
        _spec_save(actor, spec, update=update, reason=reason)
    if checked is not None:
        for test, fields in zip(existing, checked, strict=False):
            _spec_save(actor, test, update=fields, reason=reason)
        _spec_add_tests(actor, spec, checked[len(existing):], start=len(existing) + 1, reason=reason)
    spec.refresh_from_db()
    return spec


def _spec_change(actor, change_control) -> ChangeControl:
    number = change_control.number if isinstance(change_control, ChangeControl) else str(change_control or "")
    if not number.strip():
        raise RuleViolation("A new revision needs the number of its approved change control (CC-…).")
    change = quality_selectors.approved_change_control(actor, number)
    if change.kind != ChangeControl.Kind.SPECIFICATION:
        raise RuleViolation(f"{change.number} is a change of kind '{change.get_kind_display()}': a specification "
                                 "is revised under a change of kind 'Specification or method'.")
    return change


@transaction.atomic
def revise_specification(actor, spec: models.Specification, *, change_control,
                         reason: str) -> models.Specification:
    """A new draft revision of an approved specification under an approved change control, with its criteria
    copied; it becomes effective (and supersedes this one) when it is approved."""
    require(actor, AUTHOR_SPECIFICATIONS, to="author specifications")
    reason = _spec_text(reason, "a reason for the new revision", max_length=2000)
    spec = _spec_locked(actor, spec)
    if spec.status != "approved":
        raise RuleViolation(f"{spec.number} is {specification_workflow.label(spec.status)}: only the approved "
                                 "revision of a specification is revised.")
    draft = models.Specification.objects.filter(code=spec.code, status="draft").first()
    if draft is not None:
        raise Conflict(f"{draft.number} (revision {draft.revision}) is already a draft of {spec.code}: "
                            "finish that one first.")
    change = _spec_change(actor, change_control)
    if change.sponsor_id is not None and change.sponsor_id != spec.sponsor_id:
        raise RuleViolation(f"{change.number} is another sponsor's change: choose a change of this specification.")
    latest = models.Specification.objects.filter(code=spec.code).order_by("-revision").first()
    revision = _spec_save(actor, models.Specification(
        code=spec.code, revision=latest.revision + 1, title=spec.title, stage=spec.stage, sponsor=spec.sponsor,
        product=spec.product, material=spec.material, rounding=spec.rounding, supersedes=spec,
        change_control=change, status=specification_workflow.initial), reason=reason)
    fields = ("attribute", "method", "criterion", "lower", "upper", "expected", "unit", "decimals",
              "may_be_pending_at_release")
    _spec_add_tests(actor, revision, [{f: getattr(t, f) for f in fields} for t in spec.tests.order_by("position")],
                    reason=f"copied from {spec.number}")
    return revision


def transition_specification(actor, spec: models.Specification, action: str, *,
                             signature: SignatureInput | None = None, first_in_session: bool = True,
                             reason: str = "") -> models.Specification:
    """Approve (signed 'Approved'; the revision it revises becomes superseded in the same transaction) or
    retire (with a reason). Signing re-authenticates before the transaction."""
    transition = specification_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = specification_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        spec = _spec_locked(actor, spec)
        approving = action == "approve" and spec.status == "draft"
        if approving and (why := specification_workflow.refusal(spec, action, actor)) is None:
            # The partial unique constraint allows one approved revision of a code: the one in force
            # steps down before the new one is approved.
            for old in models.Specification.objects.select_for_update().filter(code=spec.code,
                                                                                    status="approved"):
                update_record(actor, old, action="transition", status="superseded",
                                    reason=f"superseded by {spec.number} (revision {spec.revision})")
        elif approving:
            raise RuleViolation(why)
        specification_workflow.apply(spec, action, actor=actor, signer=signer, reason=reason)
        if approving:
            update_record(actor, spec, action="transition", effective_at=clock.now(),
                                reason="effective on approval")
            if spec.change_control_id is not None:
                quality_services.link_implementation(actor, spec.change_control, spec)
    spec.refresh_from_db()
    return spec


def specification_of(actor, number: str) -> models.Specification:
    """The specification `number` as `actor` may see it (for services of other sections)."""
    try:
        return get_scoped(models.Specification, actor, number=str(number).strip())
    except NotFound:
        raise NotFound(f"No specification {str(number)[:32]} exists, or it is not one of your sponsors'.") from None

# --- Samples and results ---


TREND_HISTORY = 30  # the last conforming reviewed results a new result is compared with
TREND_MINIMUM = 10  # fewer say nothing about a trend
_OPEN_SAMPLE = ("registered", "received", "in_testing", "tested")


def _quantity(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleViolation(f"The quantity '{str(value)[:20]}' is not a number; enter e.g. 1.5.") from None
    if not number.is_finite() or number <= 0:
        raise RuleViolation("Enter a positive quantity.")
    if number >= Decimal("1e14") or -number.as_tuple().exponent > 6:
        raise RuleViolation(f"The quantity {str(value)[:20]} cannot be recorded: below 100 000 000 000 000 and "
                            "with at most 6 decimals.")
    return number


def _locked_sample(actor, sample) -> "models.Sample":
    return get_scoped(models.Sample.objects.select_for_update(), actor, pk=getattr(sample, "pk", sample))


def _tests_of(specification, tests) -> list:
    """The criteria to order: those given (each of `specification`), or all of it."""
    if specification is None:
        if tests:
            raise RuleViolation("Assign a specification before ordering its tests.")
        return []
    if tests is None:
        return list(specification.tests.all())
    chosen = []
    for test in tests:
        pk = getattr(test, "pk", test)
        found = models.SpecificationTest.objects.filter(pk=pk, specification=specification).first()
        if found is None:
            raise RuleViolation(f"Test {str(pk)[:20]} is not a criterion of {specification.number}; "
                                 "order only the specification's tests.")
        chosen.append(found)
    return chosen


def _turnaround(tests) -> dt.timedelta:
    return dt.timedelta(days=max((t.method.turnaround_days for t in tests), default=1))


def _log_tests(actor, sample, before: list[int], reason: str = "") -> None:
    after = sorted(sample.tests.values_list("pk", flat=True))
    if sorted(before) != after:
        audit.log_event(actor, "order_tests", record=sample,
                         changes={"tests": [sorted(before), after]}, reason=reason)


def _register(actor, *, subject_type, subject_ref, subject_label, origin, description, specification=None,
              tests=None, sponsor=None, product=None, origin_ref="", quantity=None, unit="", taken_at=None,
              taken_by=None, due_at=None, retained=False, parent=None, location="") -> "models.Sample":
    if origin not in models.Sample.Origin.values:
        raise RuleViolation(f"Unknown sample origin '{str(origin)[:30]}'; use one of "
                             f"{', '.join(models.Sample.Origin.values)}.")
    if specification is not None:
        # A stability study keeps testing against the revision its protocol was approved with.
        usable = ("approved", "superseded") if origin == models.Sample.Origin.STABILITY_PULL else ("approved",)
        if specification.status not in usable:
            raise RuleViolation(f"{specification.number} is not approved: test only against an effective "
                                 "specification.")
        if product is not None and specification.product_id not in (None, product.pk):
            raise RuleViolation(f"{specification.number} is not a specification of {product.code}.")
        if sponsor is None:
            sponsor = specification.sponsor
        elif specification.sponsor_id not in (None, sponsor.pk):
            raise RuleViolation(f"{specification.number} belongs to another sponsor.")
    if product is not None and sponsor is None:
        sponsor = product.program.sponsor
    ordered = [] if retained else _tests_of(specification, tests)
    taken_at = taken_at or None
    start = taken_at or clock.now()
    sample = create_record(actor, models.Sample(
        subject_type=_text(subject_type, "subject type", max_length=64, required=True),
        subject_ref=_text(subject_ref, "subject reference", max_length=64, required=True),
        subject_label=_text(subject_label, "subject", max_length=200, required=True),
        origin=origin, origin_ref=_text(origin_ref, "origin reference", max_length=64),
        sponsor=sponsor, product=product, specification=specification,
        description=_text(description, "description", max_length=200, required=True),
        parent=parent, retained=bool(retained), quantity=_quantity(quantity), unit=_text(unit, "unit", max_length=32),
        taken_at=taken_at, taken_by=taken_by, location=location,
        due_at=due_at or (None if retained else start + _turnaround(ordered)),
        status="registered"))
    if ordered:
        sample.tests.set(ordered)
        _log_tests(actor, sample, [])
    return sample


def register_sample(actor, *, subject_type, subject_ref, subject_label, origin, description, specification=None,
                    tests=None, sponsor=None, product=None, origin_ref="", quantity=None, unit="", taken_at=None,
                    taken_by=None, due_at=None, retained=False) -> "models.Sample":
    """A sample comes to the laboratory: what it tests, against which specification and criteria."""
    require(actor, "qc.handle_samples", to="register QC samples")
    if sponsor is not None and not may_see_sponsor(actor, sponsor.pk):
        raise RuleViolation("You may register samples only of the sponsors assigned to you.")
    tested = None
    with transaction.atomic():
        if origin != models.Sample.Origin.STABILITY_PULL:  # a pull's subject is its study, checked by the pull
            tested = tested_record(actor, subject_type, subject_ref)
            sponsor, product = tested.sponsor, getattr(tested, "product", None)
            subject_label = subject_label if subject_label and subject_label != subject_ref else _label_of(tested)
        if specification is not None:
            specification = get_scoped(models.Specification, actor, pk=specification.pk)
            if getattr(specification, "material_id", None) and getattr(tested, "material_id", None) not in (
                    None, specification.material_id):
                raise RuleViolation(f"{specification.number} is the specification of another material.")
        return _register(actor, subject_type=subject_type, subject_ref=subject_ref, subject_label=subject_label,
                         origin=origin, description=description, specification=specification, tests=tests,
                         sponsor=sponsor, product=product, origin_ref=origin_ref, quantity=quantity, unit=unit,
                         taken_at=taken_at, taken_by=taken_by, due_at=due_at, retained=retained)


# What a hand-registered sample may test.
SUBJECT_TYPES = {"batches.batch": "a batch", "materials.lot": "a material lot"}


def tested_record(actor, subject_type: str, subject_ref: str):
    """The batch or lot a sample tests, as `actor` may see it (NotFound for another sponsor's or none),
    found through the record registry: the laboratory sits below the batch record."""
    kind = registry.kind(subject_type) if subject_type in SUBJECT_TYPES else None
    if kind is None:
        raise RuleViolation(f"A sample tests {' or '.join(SUBJECT_TYPES.values())} "
                            f"({', '.join(SUBJECT_TYPES)}), not '{str(subject_type)[:40]}'.")
    return get_scoped(kind.model, actor, **{kind.lookup: str(subject_ref).strip()[:64]})


def _label_of(record) -> str:
    what = getattr(record, "product", None) or getattr(record, "material", None)
    return f"{record.number} {what.code} {what.name}"[:200] if what else record.number


def _named_in(tests, text: str) -> list:
    """The criteria a sampling point's name mentions, as whole words; its pharmacopoeia reference in
    parentheses ('(Ph. Eur. 2.6.7)') names no criterion (it is not pH)."""
    words = re.sub(r"\([^)]*\)", " ", text)

    def named(name: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", words, re.IGNORECASE) is not None

    return [t for t in tests if named(t.attribute) or named(t.method.name)]


def register_batch_sample(actor, *, batch_number, batch_label, sample_ref, description, sponsor, product,
                          quantity=None, unit="", taken_at, taken_by, stage="release") -> "models.Sample":
    """The QC sample of an eBR sampling point, in the caller's transaction (batches checked
    batches.execute). Against the product's effective specification of the point's stage (release or
    in-process), with the criteria the sampling point names ("Sterility of …" → Sterility); the
    laboratory orders the others at receipt."""
    found = models.Sample.objects.filter(origin=models.Sample.Origin.BATCH_SAMPLING, origin_ref=sample_ref).first()
    if found is not None:
        return found
    spec = selectors.effective_specification(stage=stage, product=product)
    tests = _named_in(list(spec.tests.select_related("method")), description) if spec else None
    return _register(actor, subject_type="batches.batch", subject_ref=batch_number, subject_label=batch_label[:200],
                     origin=models.Sample.Origin.BATCH_SAMPLING, description=description[:200], specification=spec,
                     tests=tests, sponsor=sponsor, product=product, origin_ref=sample_ref, quantity=quantity,
                     unit=unit, taken_at=taken_at, taken_by=taken_by)


def register_lot_sample(actor, lot, *, quantity=None, unit="", description="") -> "models.Sample":
    """The incoming QC sample of a material lot in quarantine, against the material's effective
    incoming specification."""
    require(actor, "qc.handle_samples", to="register QC samples")

    with transaction.atomic():
        lot = get_scoped(Lot.objects.select_related("material"), actor, pk=getattr(lot, "pk", lot))
        if lot.status != "quarantine":
            raise RuleViolation(f"{lot} is not in quarantine: incoming QC samples a lot before its release.")
        spec = selectors.effective_specification(stage="incoming", material=lot.material)
        if spec is None:
            raise RuleViolation(f"{lot.material.code} has no effective incoming specification: have one approved "
                                 "before sampling its lots for QC.")
        return _register(actor, subject_type="materials.lot", subject_ref=lot.number,
                         subject_label=f"{lot.number} {lot.material.code} {lot.material.name}"[:200],
                         origin=models.Sample.Origin.MATERIAL_RECEIPT,
                         description=description or f"Incoming QC of {lot.number}", specification=spec,
                         sponsor=getattr(lot, "sponsor", None) or spec.sponsor, quantity=quantity,
                         unit=unit or (lot.unit if quantity not in (None, "") else ""),
                         taken_at=clock.now(), taken_by=actor)


def receive_sample(actor, sample, *, location) -> "models.Sample":
    """The sample arrives in the laboratory: stamped received, stored at `location`."""
    require(actor, "qc.handle_samples", to="receive QC samples")
    location = _text(location, "location", max_length=100, required=True)
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        if sample.status != "registered":
            raise RuleViolation(f"{sample} was already received ({workflows.sample_workflow.label(sample.status)}).")
        now = clock.now()
        update_record(actor, sample, action="receive", status="retained" if sample.retained else "received",
                       received_at=now, received_by=actor, location=location)
        models.SampleMovement.objects.create(sample=sample, moved_at=now, moved_by=actor, to_location=location,
                                         purpose="received in the laboratory")
    return sample


def move_sample(actor, sample, *, to_location, purpose="") -> "models.SampleMovement":
    """Custody inside the laboratory: who moved it, from where, to where and why."""
    require(actor, "qc.handle_samples", to="move QC samples")
    to_location = _text(to_location, "new location", max_length=100, required=True)
    purpose = _text(purpose, "purpose", max_length=200)
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        if sample.status in ("registered", "disposed"):
            raise RuleViolation(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}: "
                                 "only a sample in the laboratory can be moved.")
        if to_location == sample.location:
            raise RuleViolation(f"{sample} is already at {to_location}.")
        movement = models.SampleMovement(sample=sample, moved_at=clock.now(), moved_by=actor,
                                     from_location=sample.location, to_location=to_location, purpose=purpose)
        movement.full_clean()
        movement.save()
        update_record(actor, sample, action="move", reason=purpose, location=to_location)
    return movement


def make_aliquots(actor, sample, *, count, quantity=None, unit="", tests_per_aliquot=None) -> list:
    """Split a received sample into `count` aliquots (same subject and specification). Each
    aliquot carries the criteria given for it (tests_per_aliquot[i]), or none."""
    require(actor, "qc.handle_samples", to="make aliquots")
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise RuleViolation("Enter how many aliquots to make (1 to 50).") from None
    if not 1 <= count <= 50:
        raise RuleViolation("Make between 1 and 50 aliquots at a time.")
    if tests_per_aliquot is not None and len(tests_per_aliquot) != count:
        raise RuleViolation("Give the tests of each aliquot, one list per aliquot.")
    with transaction.atomic():
        parent = _locked_sample(actor, sample)
        if parent.status not in ("received", "in_testing", "tested", "retained"):
            raise RuleViolation(f"Receive {parent} in the laboratory before making aliquots of it.")
        each = _quantity(quantity)
        if each is not None and parent.quantity is not None and (unit or parent.unit) == parent.unit:
            left = parent.quantity - sum(c.quantity or 0 for c in parent.aliquots.all())
            if each * count > left:
                raise RuleViolation(f"{count} × {each} {parent.unit} is more than is left of {parent}: "
                                    f"{left} {parent.unit}.")
        children = []
        for index in range(count):
            child = _register(actor, subject_type=parent.subject_type, subject_ref=parent.subject_ref,
                              subject_label=parent.subject_label, origin=models.Sample.Origin.ALIQUOT,
                              description=f"Aliquot {index + 1} of {parent.number}: {parent.description}"[:200],
                              specification=parent.specification,
                              tests=(tests_per_aliquot[index] if tests_per_aliquot is not None else []),
                              sponsor=parent.sponsor, product=parent.product, origin_ref=parent.number,
                              quantity=quantity, unit=unit, taken_at=clock.now(), taken_by=actor,
                              due_at=parent.due_at, parent=parent, location=parent.location)
            update_record(actor, child, action="receive", status="received", received_at=clock.now(),
                           received_by=actor)
            children.append(child)
        audit.log_event(actor, "aliquot", record=parent, changes={"aliquots": [None, [c.number for c in children]]})
    return children


def retain_sample(actor, sample, *, location) -> "models.Sample":
    """Keep the sample as a retained sample: stored, not tested."""
    require(actor, "qc.handle_samples", to="retain QC samples")
    location = _text(location, "storage location", max_length=100, required=True)
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        if sample.status not in ("registered", "received"):
            raise RuleViolation(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}: only a "
                                 "sample not yet tested can be kept as a retained sample.")
        if sample.results.exists():
            raise RuleViolation(f"{sample} has results: it cannot become a retained sample.")
        now = clock.now()
        changes = {"retained": True, "status": "retained", "location": location}
        if sample.received_at is None:
            changes.update(received_at=now, received_by=actor)
        if sample.location != location:
            models.SampleMovement.objects.create(sample=sample, moved_at=now, moved_by=actor,
                                             from_location=sample.location, to_location=location,
                                             purpose="retained sample")
        update_record(actor, sample, action="retain", reason="retained sample", **changes)
    return sample


def order_tests(actor, sample, tests) -> "models.Sample":
    """Order more criteria of the sample's specification (e.g. at receipt)."""
    require(actor, "qc.handle_samples", to="order QC tests")
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        if sample.status in ("retained", "disposed"):
            raise RuleViolation(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}: "
                                 "no tests can be ordered on it.")
        chosen = _tests_of(sample.specification, list(tests or ()))
        if not chosen:
            raise RuleViolation("Choose at least one test to order.")
        before = list(sample.tests.values_list("pk", flat=True))
        sample.tests.add(*chosen)
        _log_tests(actor, sample, before)
        _settle(actor, sample)
    return sample


def assign_specification(actor, sample, spec) -> "models.Sample":
    """Test the sample against `spec` (only while it has no results); orders all its criteria."""
    require(actor, "qc.handle_samples", to="assign a specification")
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        spec = get_scoped(models.Specification, actor, pk=getattr(spec, "pk", spec))
        if sample.results.exists():
            raise RuleViolation(f"{sample} has results: its specification can no longer change.")
        if sample.status in ("retained", "disposed"):
            raise RuleViolation(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}.")
        if spec.status != "approved":
            raise RuleViolation(f"{spec.number} is not approved: assign an effective specification.")
        if sample.product_id and spec.product_id not in (None, sample.product_id):
            raise RuleViolation(f"{spec.number} is not a specification of the sample's product.")
        if spec.sponsor_id != sample.sponsor_id and sample.sponsor_id is not None:
            raise RuleViolation(f"{spec.number} belongs to another sponsor.")
        before = list(sample.tests.values_list("pk", flat=True))
        update_record(actor, sample, action="assign_specification", reason=f"tested against {spec.number}",
                       specification=spec)
        sample.tests.set(list(spec.tests.all()))
        _log_tests(actor, sample, before)
    return sample


def dispose_sample(actor, sample, *, reason) -> "models.Sample":
    require(actor, "qc.handle_samples", to="dispose of QC samples")
    reason = _text(reason, "reason for disposal", max_length=500, required=True)
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        if sample.status == "disposed":
            raise RuleViolation(f"{sample} is already disposed of.")
        if sample.status in ("received", "in_testing"):
            raise RuleViolation(f"{sample} still has tests to do: finish or retain it before disposal.")
        update_record(actor, sample, action="dispose", reason=reason, status="disposed")
    return sample


def _settle(actor, sample) -> None:
    """The sample's status from its results: in testing, tested when every ordered criterion has a
    valid result (back in testing when one is invalidated)."""
    if sample.status not in ("received", "in_testing", "tested"):
        return
    ordered = set(sample.tests.values_list("pk", flat=True))
    done = set(sample.results.exclude(status="invalidated").values_list("test_id", flat=True))
    has_any = sample.results.exists()
    target = "tested" if ordered and ordered <= done else ("in_testing" if has_any else "received")
    if target != sample.status:
        update_record(actor, sample, action="transition", reason="testing progress", status=target)


def _check_instrument(method, instrument):
    kinds = list(method.instrument_kinds or [])
    if not kinds:
        return None
    if instrument is None:
        raise RuleViolation(f"{method.code} runs on an instrument ({', '.join(kinds)}): choose the one you used.")

    equipment = Equipment.objects.filter(pk=getattr(instrument, "pk", instrument)).first()
    if equipment is None:
        raise RuleViolation("No such instrument: choose one from the list.")
    if equipment.kind not in kinds:
        raise RuleViolation(f"{equipment.number} is a {equipment.get_kind_display()}: {method.code} runs on "
                             f"{', '.join(kinds)}.")
    usable, reasons = facilities_selectors.equipment_usability(equipment)
    if not usable:
        raise RuleViolation(f"{equipment.number} may not be used: {'; '.join(str(r) for r in reasons)}.")
    return equipment


def _check_sop(method):
    if method.sop_id is None:
        return

    documents_selectors.require_effective(method.sop)


def _retest_rule(actor, sample, test, retest_of):
    """No testing into compliance (OOS-1): while a valid result of this criterion stands for the
    subject, or one its OOS investigation invalidated, another result is only the retest an
    investigation ordered, made on the original sample."""
    attempts = models.TestResult.objects.filter(test=test)
    if sample.origin == models.Sample.Origin.STABILITY_PULL or (
            sample.parent_id and sample.parent.origin == models.Sample.Origin.STABILITY_PULL):
        root = sample.parent_id or sample.pk  # each time point is its own subject of testing
        attempts = attempts.filter(Q(sample=root) | Q(sample__parent=root))
    else:
        attempts = attempts.filter(sample__subject_type=sample.subject_type, sample__subject_ref=sample.subject_ref)
    if retest_of is None:
        if (first := attempts.exclude(status="invalidated").order_by("entered_at", "id").first()) is not None:
            raise RuleViolation(
                f"There is already a result for {test.attribute} of {sample.subject_ref} ({first}): a retest "
                "needs an OOS investigation that orders one (no testing into compliance).")
        if (investigated := attempts.filter(investigation__isnull=False).first()) is not None:
            raise RuleViolation(
                f"{investigated} was invalidated by {investigated.investigation.number}: enter the retest it ordered "
                f"on the original sample {investigated.sample.number}, as a retest of {investigated}.")
        return None
    original = models.TestResult.objects.filter(pk=getattr(retest_of, "pk", retest_of)).select_related("sample").first()
    if original is None or original.test_id != test.pk or (
            original.sample.subject_type, original.sample.subject_ref) != (sample.subject_type, sample.subject_ref):
        raise RuleViolation("A retest names the original result of the same criterion and subject.")
    if original.sample_id not in (sample.pk, sample.parent_id):
        raise RuleViolation(f"A retest is made on the original sample {original.sample.number} (or an aliquot of it), "
                            f"not on {sample.number} (OOS-1).")
    if why := retest_refusal(original, actor):
        raise RuleViolation(f"No retest of {original}: {why.rstrip('.')}.")
    return original


def _trend_of(sample, test, number):
    if number is None or test.method.result_kind != models.ResultKind.NUMERIC or sample.product_id is None:
        return None
    criteria_ids = models.SpecificationTest.objects.filter(specification__code=test.specification.code,
                                                       attribute=test.attribute).values_list("pk", flat=True)
    history = list(models.TestResult.objects.filter(
        test_id__in=list(criteria_ids) or [test.pk], sample__product_id=sample.product_id, status="reviewed",
        conformance=models.TestResult.Conformance.CONFORMS, numeric_value__isnull=False)
        .order_by("-entered_at", "-id").values_list("numeric_value", flat=True)[:TREND_HISTORY])
    return trend.out_of_trend(history, number, minimum=TREND_MINIMUM)


def result_label(result) -> str:
    """'RES-2026-0001 Viability #1 of QCS-2026-0001': a result as lists and messages name it."""
    return f"{result.number} {result.test.attribute} #{result.attempt} of {result.sample.number}"


def enter_result(actor, sample, test, *, value, instrument=None, comment="", submission_id,
                 retest_of=None) -> "models.TestResult":
    """The analyst's result of one criterion, evaluated against the specification at once."""
    require(actor, "qc.enter_results", to="enter QC results")
    submission_id = _text(submission_id, "submission id", max_length=64, required=True)
    value_text = _text(value, "result", max_length=200, required=True)
    comment = _text(comment, "comment", max_length=2000)
    instrument_id = getattr(instrument, "pk", instrument)
    retest_id = getattr(retest_of, "pk", retest_of)
    with transaction.atomic():
        sample = _locked_sample(actor, sample)
        done = models.TestResult.objects.filter(submission_id=submission_id).first()
        if done is not None:
            if (done.sample_id, done.test_id, done.value, done.instrument_id, done.retest_of_id, done.analyst_id) == (
                    sample.pk, getattr(test, "pk", test), value_text, instrument_id, retest_id, actor.pk):
                return done
            raise Conflict("This form was already submitted with other data; reload the page and enter the "
                            "result again.")
        test = (models.SpecificationTest.objects.select_related("method__sop", "specification")
                .filter(pk=getattr(test, "pk", test)).first())
        if sample.status in ("registered",):
            raise RuleViolation(f"Receive {sample} in the laboratory before entering results.")
        if sample.retained or sample.status in ("retained", "disposed"):
            raise RuleViolation(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}: it is "
                                 "not tested.")
        ordered = test is not None and (sample.tests.filter(pk=test.pk).exists() or (
            sample.specification_id is not None and test.specification_id == sample.specification_id))
        if not ordered:
            raise RuleViolation(f"That test is not ordered on {sample}: order it first.")
        method = test.method
        equipment = _check_instrument(method, instrument)
        _check_sop(method)
        try:
            evaluation = selectors.evaluate(test, value_text)
        except criteria.InvalidResult as exc:
            raise RuleViolation(str(exc)) from None
        original = _retest_rule(actor, sample, test, retest_of)
        attempt = (models.TestResult.objects.filter(sample=sample, test=test).aggregate(n=Max("attempt"))["n"] or 0) + 1
        note = _trend_of(sample, test, evaluation.number)
        try:
            with transaction.atomic():
                result = create_record(actor, models.TestResult(
                    sample=sample, test=test, attempt=attempt, retest_of=original, value=value_text,
                    numeric_value=evaluation.number, reported=evaluation.reported, unit=test.unit or method.unit,
                    conformance=evaluation.conformance, out_of_trend=note is not None, trend_note=(note or "")[:200],
                    instrument=equipment, analyst=actor, entered_at=clock.now(), comment=comment,
                    submission_id=submission_id, status="entered"))
        except IntegrityError:
            raise Conflict("Another result was entered for this test at the same moment; reload the sample "
                            "page.") from None
        if not sample.tests.filter(pk=test.pk).exists():
            before = list(sample.tests.values_list("pk", flat=True))
            sample.tests.add(test)
            _log_tests(actor, sample, before, reason=f"result {result}")
        _settle(actor, sample)
        if result.conformance == models.TestResult.Conformance.DOES_NOT_CONFORM:
            open_investigation(actor, result)
        signals.result_changed.send(sender=models.TestResult, result=result, actor=actor, event="entered")
    return result


def transition_result(actor, result, action: str, *, signature=None, first_in_session: bool = True,
                      reason: str = "") -> "models.TestResult":
    """Review a result (a second person, signed), or ask for / approve / decline its invalidation."""
    workflow = workflows.result_workflow
    transition = workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    reason = _text(reason, "reason", max_length=2000)
    with transaction.atomic():
        result = get_scoped(models.TestResult.objects.select_for_update(), actor, pk=getattr(result, "pk", result))
        workflow.apply(result, action, actor=actor, signer=signer, reason=reason)
        now = clock.now()
        if transition.target == "reviewed":
            update_record(actor, result, action="stamp", reviewed_at=now, reviewed_by=actor)
            signals.result_changed.send(sender=models.TestResult, result=result, actor=actor, event="reviewed")
        elif action == "request_invalidation":
            update_record(actor, result, action="stamp", invalidation_reason=reason)
        elif action == "decline_invalidation":  # back to entered: reviewed again before it counts
            update_record(actor, result, action="stamp", reason=reason, invalidation_reason="", reviewed_at=None,
                          reviewed_by=None)
        elif transition.target == "invalidated":
            update_record(actor, result, action="stamp", invalidated_at=now, invalidated_by=actor)
            _after_invalidation(actor, result)
    return result


def _after_invalidation(actor, result):
    sample = models.Sample.objects.select_for_update().get(pk=result.sample_id)
    _settle(actor, sample)
    signals.result_changed.send(sender=models.TestResult, result=result, actor=actor, event="invalidated")


def mark_invalidated(actor, result, *, reason) -> "models.TestResult":
    """Invalidate a result after QA approved a Phase I laboratory error (OOS-1), in the caller's
    transaction; the caller checked the permissions. The result stays visible with its reason."""
    reason = _text(reason, "reason", max_length=2000, required=True)
    result = models.TestResult.objects.select_for_update().get(pk=getattr(result, "pk", result))
    if result.status == "invalidated":
        return result
    update_record(actor, result, action="transition", reason=reason, status="invalidated",
                   invalidation_reason=reason, invalidated_at=clock.now(), invalidated_by=actor)
    _after_invalidation(actor, result)
    return result

# --- OOS investigations ---


def open_investigation(actor, result) -> "models.OosInvestigation":
    """OOS-1: open the investigation of a result that does not conform, in Phase I, inside the
    caller's transaction (entering the result was the permitted act). One per result: a second
    call returns the one already open. A failing retest entered under an open Phase II
    investigation belongs to that investigation and opens none of its own."""
    existing = models.OosInvestigation.objects.filter(result=result).first()
    if existing is not None:
        return existing
    root = _oos_investigation_of(result)
    if root is not None and root.result_id != result.pk and root.status == "phase_2":
        return root
    with transaction.atomic():
        return create_record(actor, models.OosInvestigation(
            result=result, sponsor=result.sample.sponsor, opened_by=actor, opened_at=clock.now(),
            status="phase_1", checklist=oos.blank_checklist()))


def _oos_investigation_of(result):
    """The investigation that governs `result`: its own, else the nearest of the results it retests."""
    seen = set()
    current = result
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        found = models.OosInvestigation.objects.filter(result_id=current.pk).first()
        if found is not None:
            return found
        current = current.retest_of
    return None


def _oos_retests_of(result) -> list:
    """Every retest of `result`, retests of retests included, invalidated ones too."""
    found, frontier = [], [result.pk]
    while frontier:
        level = list(models.TestResult.objects.filter(retest_of_id__in=frontier).order_by("entered_at", "id"))
        found.extend(level)
        frontier = [r.pk for r in level]
    return found


def retest_refusal(original, actor) -> str | None:
    """Why a retest of `original` may not be entered by `actor` now, or None when it may (OOS-1):
    only as an OOS investigation orders: once after a Phase I laboratory error, up to the
    investigation's allowance in Phase II (each by a second analyst); never otherwise."""
    investigation = _oos_investigation_of(original)
    if investigation is None:
        return (f"{original.number} has no OOS investigation: a result is repeated only when an OOS "
                "investigation orders a retest, never to replace a result (OOS-1).")
    investigated = investigation.result
    return oos.retest_refusal(
        number=investigation.number, status=investigation.status, conclusion=investigation.conclusion,
        retests_allowed=investigation.retests_allowed, retests_done=len(_oos_retests_of(investigated)),
        same_analyst_as_original=investigated.analyst_id == getattr(actor, "pk", None))


_OOS_TEXT_MAX = 4000


def _oos_for_update(actor, investigation):
    return scoping.get_scoped(
        models.OosInvestigation.objects.select_for_update().select_related("result", "result__sample"),
        actor, pk=investigation.pk)


def record_phase_one(actor, investigation, *, answers, assignable_cause: str = ""):
    """OOS-1 Phase I: the laboratory investigation's checklist answers (each {item, answer: yes/no/n.a.,
    note}; items not given keep their answer) and the assignable laboratory cause, if one was found."""
    require(actor, "qc.investigate_oos", to="record the Phase I laboratory investigation")
    cause = _text(assignable_cause, "assignable cause", max_length=oos.CAUSE_MAX)
    if not isinstance(answers, list | tuple):
        raise errors.RuleViolation("Give the checklist answers as a list of item, answer and note.")
    with transaction.atomic():
        investigation = _oos_for_update(actor, investigation)
        if investigation.status != "phase_1":
            raise errors.Conflict(f"{investigation} has left Phase I "
                                       f"({workflows.oos_workflow.label(investigation.status)}): "
                                       "its laboratory investigation can no longer change.")
        try:
            checklist = oos.merge_answers(investigation.checklist, list(answers))
        except oos.InvalidChecklist as exc:
            raise errors.RuleViolation(str(exc)) from None
        return _oos_update(actor, investigation, checklist=checklist, assignable_cause=cause)


def record_phase_two(actor, investigation, *, production_review: str, batch_impact: str):
    """OOS-1 Phase II: the review of production (batch record, process, sampling) and the impact
    on this batch and on other batches."""
    require(actor, "qc.investigate_oos", to="record the Phase II investigation")
    review = _text(production_review, "production review", max_length=_OOS_TEXT_MAX)
    impact = _text(batch_impact, "batch impact", max_length=_OOS_TEXT_MAX)
    if not (review or impact):
        raise RuleViolation("Write the production review or the batch impact (or both) before saving.")
    with transaction.atomic():
        investigation = _oos_for_update(actor, investigation)
        if investigation.status != "phase_2":
            raise errors.Conflict(
                f"{investigation} is {workflows.oos_workflow.label(investigation.status)}: the production "
                "review and batch impact are recorded in Phase II.")
        return _oos_update(actor, investigation, reason="Phase II investigation recorded",
                           production_review=review, batch_impact=impact)


def transition_investigation(actor, investigation, action: str, *, signature=None, first_in_session: bool = True,
                             reason: str = "", conclusion: str = "", summary: str = ""):
    """Move an OOS investigation on (OOS-1):
    - invalidate (QA, signed Approved): the documented laboratory error invalidates the result;
      one retest on the original sample is ordered;
    - escalate: no assignable cause: Phase II, with a deviation raised and linked;
    - close (signed Approved): conclusion `confirmed` (the original result stands, the batch
      fails) or `laboratory_error` (found in Phase II: the original result is invalidated)."""
    workflow = workflows.oos_workflow
    transition = workflow.get(action)
    reason = _text(reason, "reason", max_length=2000)
    summary = _text(summary, "summary", max_length=_OOS_TEXT_MAX)
    if action == "close" and conclusion not in models.OosInvestigation.Conclusion.values:
        raise errors.RuleViolation(
            "Choose the conclusion: OOS confirmed (the original result stands) or laboratory error "
            "(the original result is invalid).")
    signer = workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        investigation = _oos_for_update(actor, investigation)
        if (why := workflow.refusal(investigation, action, actor)) is not None:
            raise (errors.PermissionDenied if why.startswith("You do not have") else errors.RuleViolation)(why)
        result = investigation.result
        now = clock.now()
        if action == "invalidate":
            _oos_update(actor, investigation, conclusion="laboratory_error", summary=summary or investigation.summary,
                        retests_allowed=oos.PHASE_ONE_RETESTS)
            workflow.apply(investigation, action, actor=actor, signer=signer, reason=reason)
            _oos_update(actor, investigation, reason=f"{transition.label}: Phase I closed",
                        phase_one_closed_at=now, closed_at=now)
            _oos_invalidate(actor, result, reason=(
                f"{investigation.number}: laboratory error (Phase I): {investigation.assignable_cause}"))
        elif action == "escalate":
            _oos_update(actor, investigation, retests_allowed=oos.PHASE_TWO_RETESTS)
            workflow.apply(investigation, action, actor=actor, signer=signer, reason=reason)
            deviation = _oos_raise_deviation(actor, investigation)
            _oos_update(actor, investigation, reason=f"Escalated to Phase II; {deviation.number} raised",
                        phase_one_closed_at=now, deviation=deviation)
        else:
            _oos_update(actor, investigation, reason=reason or f"Closing: {conclusion}", conclusion=conclusion,
                        summary=summary or investigation.summary)
            workflow.apply(investigation, action, actor=actor, signer=signer, reason=reason)
            _oos_update(actor, investigation, reason="Investigation closed", closed_at=now)
            if conclusion == "laboratory_error":
                _oos_invalidate(actor, result, reason=(
                    f"{investigation.number}: laboratory error found in Phase II"
                    + (f": {investigation.summary}" if investigation.summary else "")))
        return investigation


def _oos_update(actor, investigation, *, reason: str = "", **changes):
    return update_record(actor, investigation, reason=reason, **changes)


def _oos_invalidate(actor, result, *, reason: str):
    """The original result marked invalidated by the laboratory's own service (it stays, struck through)."""
    return mark_invalidated(actor, result, reason=reason[:2000])


def _tested_record(sample):
    """The batch or lot a sample tests (see tested_record); None for a stability pull."""
    kind = registry.kind(sample.subject_type) if sample.subject_type in SUBJECT_TYPES else None
    return kind.model.objects.filter(**{kind.lookup: sample.subject_ref}).first() if kind else None


def _oos_raise_deviation(actor, investigation):
    result = investigation.result
    sample = result.sample
    test = result.test
    description = (
        f"{result.number} ({test.attribute}) on {sample.number}, {sample.subject_label}: reported "
        f"{result.reported}{(' ' + result.unit) if result.unit else ''} against the limit "
        f"{selectors.limit_text(test)}. The Phase I laboratory investigation {investigation.number} found no "
        "assignable laboratory cause; the full-scale (Phase II) investigation reviews production and the "
        "impact on this and other batches (OOS-1).")
    return quality_services.raise_deviation(
        actor, title=f"OOS {test.attribute} {sample.subject_label}"[:200], description=description,
        source="oos", records=[r for r in (investigation, sample, _tested_record(sample)) if r is not None],
        sponsor=investigation.sponsor, category="laboratory")


# --- Stability ---


STABILITY_SUBJECT_TYPE = "qc.stabilitystudy"
MAX_WINDOW_DAYS = 60


def create_study(actor, *, title: str, product, specification, subject_ref: str, conditions: list[str],
                 time_points: list[int], start_date: dt.date,
                 window_days: int = 7) -> models.StabilityStudy:
    """A stability protocol in draft (QC-8): the batch or lot on study, its storage conditions and
    time points, tested against the product's approved stability specification."""

    require(actor, "qc.manage_stability", to="create stability studies")
    title = _text(title, "title of the study", max_length=200, required=True)
    subject_ref = _text(subject_ref, "batch or lot on study", max_length=64, required=True)
    if not isinstance(start_date, dt.date) or isinstance(start_date, dt.datetime):
        raise RuleViolation("Give the start date of the study (YYYY-MM-DD).")
    if not 2000 <= start_date.year <= 2100:
        raise RuleViolation("Give a start date between the years 2000 and 2100.")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or not 0 <= window_days <= MAX_WINDOW_DAYS:
        raise RuleViolation(f"Give the pull window as whole days between 0 and {MAX_WINDOW_DAYS}.")
    try:
        schedule = stability.pull_schedule(start_date, list(time_points or []), list(conditions or []))
    except stability.InvalidProtocol as exc:
        raise RuleViolation(str(exc)) from None
    with transaction.atomic():
        product = get_scoped(Product.objects.select_related("program__sponsor"), actor,
                                        pk=getattr(product, "pk", None))
        specification = get_scoped(models.Specification, actor,
                                              pk=getattr(specification, "pk", None))
        if specification.stage != models.Stage.STABILITY:
            raise RuleViolation(
                f"{specification.number} is a {specification.get_stage_display().lower()} specification: "
                "a stability study is tested against a stability specification.")
        if specification.status != "approved":
            raise RuleViolation(
                f"{specification.number} is not approved: use the effective stability specification.")
        if specification.product_id != product.pk:
            raise RuleViolation(
                f"{specification.number} is not a specification of {product.code}: choose one for the product on study.")
        # A batch made here must be one of the product's; one made before or elsewhere is named as written.
        batches = registry.kind("batches.batch").model.objects
        if (on_study := batches.filter(number=subject_ref).first()) is not None:
            if not may_see_sponsor(actor, on_study.sponsor_id):
                raise NotFound("No batch matches that reference.")
            if on_study.product_id != product.pk:
                raise RuleViolation(f"{on_study.number} is a batch of {on_study.product.code}, not of {product.code}.")
        study = models.StabilityStudy(
            status="draft", title=title, sponsor=product.program.sponsor, product=product,
            specification=specification, subject_ref=subject_ref,
            conditions=sorted({c for c, _, _ in schedule}, key=[c for c, _, _ in schedule].index),
            time_points=sorted({m for _, m, _ in schedule}), window_days=window_days, start_date=start_date)
        return records.create_record(actor, study)


def _pull_is_tested(pull) -> bool:
    """Every criterion of the study's specification has a result on the pull's sample that stands."""
    if pull.sample_id is None:
        return False
    tested = set(models.TestResult.objects.filter(sample_id=pull.sample_id)
                 .exclude(status="invalidated").values_list("test_id", flat=True))
    wanted = set(pull.study.specification.tests.values_list("pk", flat=True))
    return wanted <= tested


def outstanding_pulls(study) -> list:
    """The pulls of a study not yet pulled, or pulled but not fully tested."""
    return [p for p in study.pulls.select_related("study__specification").order_by("due_date", "id")
            if not _pull_is_tested(p)]


def transition_study(actor, study, action: str, *, signature=None, first_in_session: bool = True,
                     reason: str = "") -> models.StabilityStudy:
    """Approve (signed, not by the author: the pulls are scheduled in the same transaction),
    complete (every pull tested, or a reason why not) or cancel (with a reason) a study."""
    from .workflows import stability_workflow  # noqa: PLC0415

    signer = stability_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        study = get_scoped(
            models.StabilityStudy.objects.select_for_update().select_related("specification", "product"),
            actor, pk=study.pk)
        if action == "complete" and study.status == "active" and not reason.strip():
            missing = outstanding_pulls(study)
            if missing:
                listed = ", ".join(f"{p.condition} {p.months} m" for p in missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise RuleViolation(
                    f"{study} has pulls not yet pulled or tested ({listed}{more}): test them, or give "
                    "a reason to complete the study without them.")
        stability_workflow.apply(study, action, actor=actor, signer=signer, reason=reason)
        if action == "approve":
            for condition, months, due in stability.pull_schedule(study.start_date, study.time_points,
                                                                          study.conditions):
                records.create_record(actor, models.StabilityPull(
                    study=study, condition=condition, months=months, due_date=due))
    return study


def pull(actor, pull, *, quantity=None, unit: str = "") -> models.StabilityPull:
    """Take a time point's sample out of storage: it is registered in the laboratory with the
    study as its subject. Refused before the pull window opens; a late pull is recorded as late."""
    require(actor, "qc.pull_stability", to="pull stability samples")
    unit = (unit or "").strip()
    if len(unit) > 32:
        raise RuleViolation("The unit is longer than 32 characters: shorten it.")
    if quantity is not None:
        try:
            quantity = Decimal(str(quantity))
        except ArithmeticError:
            raise RuleViolation("Give the quantity pulled as a number.") from None
        if not quantity.is_finite() or quantity <= 0 or quantity >= 10**14:
            raise RuleViolation("Give the quantity pulled as a positive number.")
        if not unit:
            raise RuleViolation("Give the unit of the quantity pulled (e.g. mL, vials).")
    with transaction.atomic():
        pull = get_scoped(
            models.StabilityPull.objects.select_for_update().select_related(
                "study__product", "study__sponsor", "study__specification"), actor, pk=getattr(pull, "pk", None))
        study = pull.study
        if pull.pulled_at is not None:
            raise Conflict(f"{study} {pull.condition} {pull.months} m was already pulled "
                                     f"(sample {pull.sample.number}); each time point is pulled once.")
        if study.status != "active":
            raise RuleViolation(f"{study} is not active: only an approved, running study is pulled.")
        today = clock.site_today()
        opens, _ = stability.window(pull.due_date, study.window_days)
        if today < opens:
            raise RuleViolation(
                f"The {pull.condition} {pull.months}-month pull of {study} is due {pull.due_date:%Y-%m-%d}; "
                f"its window opens {opens:%Y-%m-%d}. Pull it then.")
        label = f"{study.number} {pull.condition} {pull.months} m"
        now = clock.now()
        sample = register_sample(
            actor, subject_type=STABILITY_SUBJECT_TYPE, subject_ref=study.number, subject_label=label[:200],
            origin="stability_pull", origin_ref=f"{study.number}/{pull.condition}/{pull.months}"[:64],
            description=f"Stability pull {pull.months} m at {pull.condition} of {study.subject_ref}"[:200],
            specification=study.specification, sponsor=study.sponsor, product=study.product,
            quantity=quantity, unit=unit, taken_at=now, taken_by=actor)
        late = "" if stability.on_time(pull.due_date, today, study.window_days) else (
            f"pulled late: due {pull.due_date:%Y-%m-%d}, window ± {study.window_days} days")
        records.update_record(actor, pull, reason=late, action="pull", sample=sample,
                                         pulled_at=now, pulled_by=actor)
    return pull
