"""The structure of a master batch record (ISA-88 in spirit): stages → steps → instructions.

Plain frozen dataclasses, no Django: the MBR file format (mbr_format.py) reads and writes
them, the database keeps them as canonical JSON (`to_dict`), and batch execution walks them.
Identifiers (`Step.id`, `Parameter.id`) are unique across the whole definition, so a
formula or a hold time can name any earlier entry or step.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

FORMAT = "opencdmo-mbr/1"

PARAMETER_TYPES = ("number", "text", "choice", "yes_no", "datetime", "scan", "calculated")
CRITICALITIES = ("cpp", "kpp", "ipc", "none")
CRITICALITY_LABELS = {"cpp": "Critical process parameter", "kpp": "Key process parameter",
                      "ipc": "In-process control", "none": ""}
SCAN_KINDS = ("equipment", "lot", "coi", "any")


@dataclass(frozen=True)
class Range:
    """An interval with its own inclusivity at each end; a missing end is unbounded."""

    low: Decimal | None = None
    high: Decimal | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, value: Decimal) -> bool:
        above_low = self.low is None or value > self.low or (value == self.low and self.low_inclusive)
        below_high = self.high is None or value < self.high or (value == self.high and self.high_inclusive)
        return above_low and below_high


@dataclass(frozen=True)
class Parameter:
    id: str
    label: str
    type: str  # one of PARAMETER_TYPES
    unit: str = ""
    decimals: int | None = None  # reported decimals; a calculated value is rounded to them
    target: str = ""  # as written in the MBR, for display
    normal: Range | None = None  # normal operating range (NOR): outside → exception with comment
    acceptable: Range | None = None  # proven acceptable range (PAR): outside → deviation
    choices: tuple[str, ...] = ()  # for type choice
    expected: str = ""  # yes_no / choice: any other answer is an exception with comment
    criticality: str = "none"  # one of CRITICALITIES
    verify: bool = False  # second-person verification required
    formula: str = ""  # type calculated: over earlier parameters (and `scale`)
    scan: str = ""  # type scan: one of SCAN_KINDS
    required: bool = True


@dataclass(frozen=True)
class Instruction:
    text: str
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class MaterialLine:
    """A bill-of-materials line: `quantity` is a formula of the batch `scale`."""

    material: str  # material code
    quantity: str
    unit: str


@dataclass(frozen=True)
class SamplingPoint:
    id: str
    name: str  # what the sample is for, e.g. "Sterility (Ph. Eur. 2.6.27)"
    quantity: Decimal | None = None
    unit: str = ""
    stage: str = "release"  # the product's specification it is tested against: release or in_process


@dataclass(frozen=True)
class HoldTime:
    """Time allowed from the completion of step `after` to the start of this step."""

    after: str
    min_minutes: int | None = None
    max_minutes: int | None = None


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    after: tuple[str, ...] = ()  # predecessors; steps with the same predecessors run in parallel
    optional: bool = False
    patient_material: bool = False  # handles patient material: needs a chain-of-identity scan
    sops: tuple[str, ...] = ()  # document numbers that must be effective and trained on
    equipment: tuple[str, ...] = ()  # equipment kinds (facilities Equipment.Kind values)
    materials: tuple[MaterialLine, ...] = ()
    instructions: tuple[Instruction, ...] = ()
    samples: tuple[SamplingPoint, ...] = ()
    hold: HoldTime | None = None

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for i in self.instructions for p in i.parameters)


@dataclass(frozen=True)
class Stage:
    id: str
    name: str
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Definition:
    product: str  # product code
    title: str
    scale_unit: str  # the unit a batch's scale is given in (e.g. "L", "patient dose")
    stages: tuple[Stage, ...] = ()
    format: str = FORMAT
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def steps(self) -> Iterator[Step]:
        for stage in self.stages:
            yield from stage.steps

    def step(self, step_id: str) -> Step:
        if not self._index:
            self._index.update({s.id: s for s in self.steps()})
        return self._index[step_id]

    def stage_of(self, step_id: str) -> Stage:
        return next(stage for stage in self.stages if any(s.id == step_id for s in stage.steps))

    def parameters(self) -> dict[str, Parameter]:
        return {p.id: p for s in self.steps() for p in s.parameters}


# Canonical JSON: what the database stores and a signature binds to. Decimals are strings,
# so that 0.10 stays 0.10; defaults are left out, so that the same definition is the same JSON.

def _range_to_dict(r: Range) -> dict:
    out = {}
    if r.low is not None:
        out["low"], out["low_inclusive"] = str(r.low), r.low_inclusive
    if r.high is not None:
        out["high"], out["high_inclusive"] = str(r.high), r.high_inclusive
    return out


def _range_from_dict(d: dict | None) -> Range | None:
    if d is None:
        return None
    return Range(low=Decimal(d["low"]) if "low" in d else None, high=Decimal(d["high"]) if "high" in d else None,
                 low_inclusive=d.get("low_inclusive", True), high_inclusive=d.get("high_inclusive", True))


_PARAMETER_DEFAULTS = {f.name: f.default for f in Parameter.__dataclass_fields__.values()}


def _parameter_to_dict(p: Parameter) -> dict:
    out = {"id": p.id, "label": p.label, "type": p.type}
    for name in ("unit", "decimals", "target", "expected", "criticality", "verify", "formula", "scan", "required"):
        value = getattr(p, name)
        if value != _PARAMETER_DEFAULTS[name]:
            out[name] = value
    if p.choices:
        out["choices"] = list(p.choices)
    for name in ("normal", "acceptable"):
        if getattr(p, name) is not None:
            out[name] = _range_to_dict(getattr(p, name))
    return out


def _parameter_from_dict(d: dict) -> Parameter:
    values = {k: v for k, v in d.items() if k not in ("normal", "acceptable", "choices")}
    return Parameter(**values, choices=tuple(d.get("choices", ())), normal=_range_from_dict(d.get("normal")),
                     acceptable=_range_from_dict(d.get("acceptable")))


def _step_to_dict(s: Step) -> dict:
    out: dict = {"id": s.id, "name": s.name, "after": list(s.after)}
    if s.optional:
        out["optional"] = True
    if s.patient_material:
        out["patient_material"] = True
    if s.sops:
        out["sops"] = list(s.sops)
    if s.equipment:
        out["equipment"] = list(s.equipment)
    if s.materials:
        out["materials"] = [{"material": m.material, "quantity": m.quantity, "unit": m.unit} for m in s.materials]
    out["instructions"] = [{"text": i.text, "parameters": [_parameter_to_dict(p) for p in i.parameters]}
                           for i in s.instructions]
    if s.samples:
        out["samples"] = [{"id": x.id, "name": x.name, **({"quantity": str(x.quantity)} if x.quantity is not None
                                                          else {}), **({"unit": x.unit} if x.unit else {}),
                           **({"stage": x.stage} if x.stage != "release" else {})}
                          for x in s.samples]
    if s.hold is not None:
        out["hold"] = {"after": s.hold.after, **{k: getattr(s.hold, k) for k in ("min_minutes", "max_minutes")
                                                 if getattr(s.hold, k) is not None}}
    return out


def _step_from_dict(d: dict) -> Step:
    return Step(
        id=d["id"], name=d["name"], after=tuple(d.get("after", ())), optional=d.get("optional", False),
        patient_material=d.get("patient_material", False), sops=tuple(d.get("sops", ())),
        equipment=tuple(d.get("equipment", ())),
        materials=tuple(MaterialLine(**m) for m in d.get("materials", ())),
        instructions=tuple(Instruction(text=i["text"], parameters=tuple(_parameter_from_dict(p)
                                                                        for p in i.get("parameters", ())))
                           for i in d.get("instructions", ())),
        samples=tuple(SamplingPoint(id=x["id"], name=x["name"],
                                    quantity=Decimal(x["quantity"]) if "quantity" in x else None,
                                    unit=x.get("unit", ""), stage=x.get("stage", "release"))
                     for x in d.get("samples", ())),
        hold=HoldTime(**d["hold"]) if "hold" in d else None,
    )


def to_dict(definition: Definition) -> dict:
    return {
        "format": definition.format, "product": definition.product, "title": definition.title,
        "scale_unit": definition.scale_unit,
        "stages": [{"id": st.id, "name": st.name, "steps": [_step_to_dict(s) for s in st.steps]}
                   for st in definition.stages],
    }


def from_dict(data: dict) -> Definition:
    """The definition stored by `to_dict` (already validated when it was imported)."""
    return Definition(
        format=data["format"], product=data["product"], title=data["title"], scale_unit=data["scale_unit"],
        stages=tuple(Stage(id=st["id"], name=st["name"], steps=tuple(_step_from_dict(s) for s in st["steps"]))
                     for st in data["stages"]),
    )
