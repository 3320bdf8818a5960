"""Master batch records built through the services: a small definition and an effective version."""

import itertools
from decimal import Decimal

from opencdmo.core.domain.roles import Role
from opencdmo.processes import services
from opencdmo.processes.domain import mbr_format
from opencdmo.processes.domain.definition import (
    Definition,
    HoldTime,
    Instruction,
    MaterialLine,
    Parameter,
    Range,
    SamplingPoint,
    Stage,
    Step,
)
from opencdmo.processes.models import MbrVersion
from opencdmo.quality import services as quality_services
from opencdmo.sponsors.models import Product
from tests.factories import signature
from tests.quality import change_builders


def small_definition(product: str = "ACM-101", *, sop: str = "", material: str = "", equipment: str = "") -> Definition:
    """Five steps of a CAR-T process: a hold time, a parallel branch, a calculated vector volume,
    a critical parameter with second-person verification, an optional step and a sampling point."""
    cells = Parameter(id="viable_cells", label="Viable cells", type="number", unit="cells", criticality="cpp",
                      normal=Range(Decimal("1e8"), Decimal("5e8")), acceptable=Range(Decimal("5e7"), Decimal("1e9")),
                      verify=True)
    viability = Parameter(id="viability", label="Viability", type="number", unit="%", decimals=1,
                          normal=Range(low=Decimal("80")), acceptable=Range(low=Decimal("70")), criticality="cpp")
    titer = Parameter(id="titer", label="Vector titer", type="number", unit="TU/mL")
    moi = Parameter(id="moi", label="MOI", type="number", target="3", normal=Range(Decimal(2), Decimal(5)),
                    acceptable=Range(Decimal("1.5"), Decimal(6), high_inclusive=False), criticality="cpp")
    volume = Parameter(id="vector_volume", label="Vector volume", type="calculated", unit="mL", decimals=2,
                       formula="moi * viable_cells / titer")
    intact = Parameter(id="bag_intact", label="Bag intact", type="yes_no", expected="yes")
    temperature = Parameter(id="incubator_temperature", label="Incubator temperature", type="number", unit="°C",
                            target="37.0", normal=Range(Decimal("36.5"), Decimal("37.5")),
                            acceptable=Range(Decimal("36.0"), Decimal("38.0")), criticality="kpp")
    return Definition(product=product, title="CD19 CAR-T (short)", scale_unit="patient dose", stages=(
        Stage(id="A", name="Starting material", steps=(
            Step(id="A1", name="Receive apheresis", patient_material=True, sops=(sop,) if sop else (),
                 instructions=(Instruction("Inspect the bag for leaks.", (intact,)),
                               Instruction("Count viable cells.", (cells, viability)))),
            Step(id="A2", name="Sample starting material", after=("A1",), optional=True,
                 samples=(SamplingPoint("SP-STER", "Sterility of starting material", Decimal(1), "mL"),)),
        )),
        Stage(id="B", name="Transduction", steps=(
            Step(id="B1", name="Transduce", after=("A1",), hold=HoldTime("A1", max_minutes=240),
                 equipment=(equipment,) if equipment else (),
                 materials=(MaterialLine(material, "10 * scale", "mL"),) if material else (),
                 instructions=(Instruction("Thaw the vector and add it.", (titer, moi, volume)),)),
            Step(id="B2", name="Incubate", after=("B1",),
                 instructions=(Instruction("Check the incubator.", (temperature,)),)),
            Step(id="B3", name="Harvest", after=("A2", "B2"),
                 instructions=(Instruction("Harvest the cells.", ()),)),
        )),
    ))


def person(username: str, role: Role, *sponsors):
    return change_builders.user(username, role, *sponsors)


_changes = itertools.count(1)


def approved_change(sponsor):
    prefix = f"mbr{next(_changes)}"
    proposer = person(f"{prefix}.proposer", Role.SUPERVISOR, sponsor)
    qa = person(f"{prefix}.cc.qa", Role.QA_SPECIALIST, sponsor)
    approver = person(f"{prefix}.cc.approver", Role.QA_APPROVER, sponsor)
    change = change_builders.submitted(change_builders.proposed(proposer, sponsor=sponsor), proposer)
    change_builders.assessed(change, qa)
    change_builders.awaiting_approval(change, qa)
    for approval in change.sponsor_approvals.filter(status="pending"):  # the sponsor's quality agreement asks for it
        viewer = person(f"{prefix}.sponsor", Role.SPONSOR_VIEWER, sponsor)
        quality_services.decide_sponsor_approval(viewer, approval, "approve", signature=signature(viewer, "Approved"))
    return change_builders.qa_approved(change, approver)


def draft_version(author, product, definition: Definition | None = None, *, change_control: str = "", mbr=None):
    mbr = mbr or services.create_mbr(author, product=product, title=f"{product.name} manufacturing")
    return services.new_version(author, mbr, definition=definition or small_definition(product.code),
                                change_control=change_control, change_summary="First version.")


def effective_version(author, approver, product, definition: Definition | None = None, *, mbr=None, change=None):
    """An effective version, made under an approved change control (built when not given)."""
    change = change or approved_change(product.program.sponsor)
    version = draft_version(author, product, definition, change_control=change.number, mbr=mbr)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    services.transition_version(approver, version, "approve", signature=signature(approver, "Approved"))
    return services.transition_version(approver, version, "make_effective", signature=signature(approver, "QA Released"))


def effective_for_sponsor(sponsor):
    """The sponsor's effective MBR version (built once per test): for the cross-sponsor web tests."""
    from opencdmo.processes.models import MbrVersion  # noqa: PLC0415

    existing = MbrVersion.objects.filter(mbr__product__program__sponsor=sponsor, status="effective").first()
    if existing is not None:
        return existing
    code = sponsor.code.lower()
    product = sponsor.programs.get().products.get()
    return effective_version(person(f"{code}.pd", Role.PD_SCIENTIST, sponsor),
                             person(f"{code}.mbr.approver", Role.QA_APPROVER, sponsor), product)


def mbr_for_sponsor(author, sponsor, title: str) -> str:
    return effective_for_sponsor(sponsor).mbr.number


def version_for_sponsor(author, sponsor, title: str) -> str:
    return effective_for_sponsor(sponsor).number


def file_text(product: str = "ACM-101", **references) -> str:
    """`small_definition` as an MBR file (YAML)."""
    return mbr_format.dump_yaml(small_definition(product, **references))


def draft_for_sponsor(sponsor) -> MbrVersion:
    """A draft version of the MBR of the sponsor's product, imported by the sponsor's own author."""
    product = Product.objects.filter(program__sponsor=sponsor).order_by("pk").first()
    existing = MbrVersion.objects.filter(mbr__product=product, status="draft").first()
    if existing is not None:
        return existing
    author = person(f"{sponsor.code.lower()}.mbr.author", Role.PD_SCIENTIST, sponsor)
    return services.import_version(author, text=file_text(product.code), change_control="CC-2026-0001")
