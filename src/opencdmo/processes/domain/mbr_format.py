"""The MBR file format `opencdmo-mbr/1`: human-readable YAML (or JSON) ⇄ `Definition`.

`load` reads the text into YAML nodes (so every value keeps its line), checks the structure
against the published JSON Schema (schemas/mbr-1.schema.json), then the rules between fields
(ids, order of steps, formulas, ranges, durations). Every problem is reported with its line,
all at once, so a process engineer can fix a file in one pass. `dump_yaml`/`dump_json` write
the same shape back; `load(dump_yaml(d)) == d` for every valid definition. docs/mbr-format.md
is the reference for people.
"""

import json
import keyword
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from . import formula as formulas
from .definition import (
    FORMAT,
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

SUPPORTED_FORMATS = (FORMAT,)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "mbr-1.schema.json"
MAX_BYTES = 2_000_000
MAX_STEPS = 1000
MAX_PARAMETERS = 20_000
MAX_ERRORS = 50
MAX_HOLD_MINUTES = 366 * 24 * 60
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 20× faster, and it limits nesting depth
SCALE = "scale"  # the one name a bill-of-materials quantity may use; also in scope of every formula
_NUMERIC = ("number", "calculated")

NodePath = tuple[str | int, ...]  # keys and list indexes from the top of the file


class FormatError(ValueError):
    """An MBR file that cannot be imported: `errors` are (line or None, message), lines 1-based."""

    def __init__(self, errors: Iterable[tuple[int | None, str]]):
        self.errors = sorted(errors, key=lambda e: (e[0] or 0))[:MAX_ERRORS]
        super().__init__("\n".join(f"line {line}: {message}" if line else message for line, message in self.errors))


# ── Notations shared by the file and the screens ────────────────────────────────────────────

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CLOSED = re.compile(rf"^\s*([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])\s*$")
_HALF = re.compile(rf"^\s*(>=|>|<=|<|≥|≤)\s*({_NUMBER})\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")  # not text a person typed
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)min)?$")


def number_text(value: Decimal) -> str:
    """A decimal as written in the file: exact, with a lower-case exponent (1e8, 2.5e-3)."""
    return str(value).replace("E+", "e").replace("E", "e")


def parse_interval(text: str) -> Range:
    """'[a, b]', '(a, b]', '[a, b)', '(a, b)', '>= a', '> a', '<= b', '< b' → Range (ValueError if not)."""
    if match := _CLOSED.match(text):
        opening, low, high, closing = match.groups()
        r = Range(Decimal(low), Decimal(high), low_inclusive=opening == "[", high_inclusive=closing == "]")
        if r.low > r.high or (r.low == r.high and not (r.low_inclusive and r.high_inclusive)):
            raise ValueError(f"'{text}' is an empty interval: the lower end must come first")
        return r
    if match := _HALF.match(text):
        operator, bound = match.groups()
        operator = {"≥": ">=", "≤": "<="}.get(operator, operator)
        if operator.startswith(">"):
            return Range(low=Decimal(bound), low_inclusive=operator == ">=")
        return Range(high=Decimal(bound), high_inclusive=operator == "<=")
    raise ValueError(f"'{text}' is not an interval: write [a, b], (a, b], [a, b), (a, b), >= a, > a, <= b or < b")


def interval_text(r: Range) -> str:
    if r.low is not None and r.high is not None:
        return (f"{'[' if r.low_inclusive else '('}{number_text(r.low)}, {number_text(r.high)}"
                f"{']' if r.high_inclusive else ')'}")
    if r.low is not None:
        return f"{'>=' if r.low_inclusive else '>'} {number_text(r.low)}"
    return f"{'<=' if r.high_inclusive else '<'} {number_text(r.high)}"


def _within(inner: Range, outer: Range) -> bool:
    """Every value of `inner` is in `outer` (both non-empty)."""
    def end_ok(inner_end, inner_inclusive, outer_end, outer_inclusive, inside):
        if outer_end is None:
            return True
        if inner_end is None:
            return False
        return inside(inner_end, outer_end) or (inner_end == outer_end and (outer_inclusive or not inner_inclusive))

    return (end_ok(inner.low, inner.low_inclusive, outer.low, outer.low_inclusive, lambda a, b: a > b)
            and end_ok(inner.high, inner.high_inclusive, outer.high, outer.high_inclusive, lambda a, b: a < b))


def parse_duration(text: str) -> int:
    """'45min', '4h', '2d', '1h30min' → minutes (ValueError if not)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match:
        raise ValueError(f"'{text}' is not a duration: write e.g. 45min, 4h, 2d or 1h30min")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def duration_text(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, rest = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (rest, "min")) if n)
    return text or "0min"


# ── Reading YAML nodes into plain data, keeping lines ───────────────────────────────────────

# Keys whose values are text: a plain scalar there is taken as written, so `target: 37.0`
# stays "37.0", `quantity: 1e8` stays exact and `expected: yes` is the answer "yes", not true.
_TEXT_KEYS = frozenset({"format", "product", "title", "scale_unit", "id", "name", "after", "sops", "equipment",
                        "material", "quantity", "unit", "min", "max", "text", "label", "type", "formula", "target",
                        "normal", "acceptable", "choices", "expected", "scan", "criticality", "stage"})


@dataclass
class _Document:
    data: object
    lines: dict  # path → line of the value
    key_lines: dict  # path → line of the key naming it


class _Reader:
    def __init__(self):
        self.lines: dict = {}
        self.key_lines: dict = {}
        self.errors: list[tuple[int | None, str]] = []
        self.seen: set[int] = set()
        self.constructor = yaml.constructor.SafeConstructor()

    def read(self, node: yaml.Node, path: NodePath = (), as_text: bool = False):
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            try:
                if as_text and not node.style and node.tag != "tag:yaml.org,2002:null":  # plain, as written
                    value = node.value
                else:
                    value = self.constructor.construct_object(node)
            except yaml.YAMLError as e:
                self.errors.append((node.start_mark.line + 1, f"cannot read the value: {e}"))
                return None
            if isinstance(value, str) and _CONTROL.search(value):
                self.errors.append((node.start_mark.line + 1, "control characters are not allowed in text "
                                                              "(only line breaks and tabs)"))
            return value
        if id(node) in self.seen:  # an alias: refused, it would let a small file expand enormously
            self.errors.append((node.start_mark.line + 1, "anchors and aliases (& and *) are not supported"))
            return None
        self.seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*path, i), as_text) for i, item in enumerate(node.value)]
        data = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.tag)
            if key in data:
                self.errors.append((key_node.start_mark.line + 1, f"key '{key}' is given twice"))
                continue
            self.key_lines[(*path, key)] = key_node.start_mark.line + 1
            data[key] = self.read(value_node, (*path, key), key in _TEXT_KEYS)
        return data


def _compose(text: str) -> _Document:
    if not isinstance(text, str):
        raise FormatError([(None, "The file must be text (UTF-8).")])
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise FormatError([(None, "The file is not valid UTF-8 text.")]) from None
    if size > MAX_BYTES:
        raise FormatError([(None, f"The file is larger than {MAX_BYTES // 1_000_000} MB.")])
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise FormatError([(mark.line + 1 if mark else None,
                            f"not valid YAML or JSON: {e.problem or e.context}")]) from None
    except yaml.YAMLError as e:
        raise FormatError([(None, f"not valid YAML or JSON: {e}")]) from None
    except RecursionError:
        raise FormatError([(None, "The file is nested too deeply.")]) from None
    if root is None:
        raise FormatError([(None, "The file is empty.")])
    reader = _Reader()
    try:
        data = reader.read(root)
    except RecursionError:
        raise FormatError([(None, "The file is nested too deeply.")]) from None
    if reader.errors:
        raise FormatError(reader.errors)
    return _Document(data, reader.lines, reader.key_lines)


# ── Structure: the JSON Schema ──────────────────────────────────────────────────────────────

@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


_TYPE_NAMES = {"string": "text", "array": "a list", "object": "a mapping (key: value)", "boolean": "true or false",
               "integer": "a whole number", "number": "a number"}


def _what(path) -> str:
    names = [p for p in path if isinstance(p, str)]
    if not names:
        return "the file"
    return f"'{names[-1]}'" if isinstance(path[-1], str) else f"each item of '{names[-1]}'"


def _schema_errors(doc: _Document) -> list[tuple[int | None, str]]:
    errors = set()
    for error in _validator().iter_errors(doc.data):
        path = tuple(error.absolute_path)
        line = doc.lines.get(path)
        what = _what(path)
        instance = error.instance
        if error.validator == "additionalProperties":
            allowed = ", ".join(error.schema.get("properties", {}))
            for key in instance:
                if key not in error.schema.get("properties", {}):
                    errors.add((doc.key_lines.get((*path, key), line), f"unknown key '{key}' (allowed here: {allowed})"))
            continue
        if error.validator == "required":
            for key in error.validator_value:
                if key not in instance:
                    errors.add((line, f"'{key}' is missing"))
            continue
        if error.validator == "type":
            message = f"{what} must be {_TYPE_NAMES.get(error.validator_value, error.validator_value)}"
        elif error.validator == "enum":
            message = f"{what} must be one of {', '.join(map(str, error.validator_value))}, not '{instance}'"
        elif error.validator == "pattern":
            message = f"{what}: '{instance}' is not {error.schema.get('description', 'valid')}"
        elif error.validator == "minLength":
            message = f"{what} must not be empty"
        elif error.validator == "maxLength":
            message = f"{what} is longer than {error.validator_value} characters"
        elif error.validator == "minItems":
            message = f"{what} must list at least {error.validator_value}"
        elif error.validator in ("minimum", "maximum"):
            message = f"{what} must be from {error.schema.get('minimum')} to {error.schema.get('maximum')}"
        else:
            message = f"{what}: {error.message}"
        errors.add((line, message))
    return sorted(errors, key=lambda e: (e[0] or 0, e[1]))


# ── Rules between fields, and the Definition ────────────────────────────────────────────────

class _Builder:
    def __init__(self, doc: _Document, equipment_kinds: Collection[str] | None):
        self.doc = doc
        self.equipment_kinds = None if equipment_kinds is None else set(equipment_kinds)
        self.errors: list[tuple[int | None, str]] = []
        self.step_ids: set[str] = set()  # steps read so far (the earlier ones)
        self.previous_step: str | None = None  # the step above, the default predecessor
        self.all_step_ids = {s["id"] for st in doc.data["stages"] for s in st["steps"]}
        self.stage_ids: set[str] = set()
        self.sample_ids: set[str] = set()
        self.parameter_types: dict[str, str] = {}  # parameters read so far → type
        self.all_parameter_ids = {p["id"] for st in doc.data["stages"] for s in st["steps"]
                                  for i in s.get("instructions", ()) for p in i.get("parameters", ())}

    def error(self, path: NodePath, message: str) -> None:
        self.errors.append((self.doc.lines.get(path), message))

    def definition(self) -> Definition:
        data = self.doc.data
        stages = tuple(self.stage(st, ("stages", i)) for i, st in enumerate(data["stages"]))
        if len(self.parameter_types) > MAX_PARAMETERS:
            self.error(("stages",), f"an MBR file may have at most {MAX_PARAMETERS} parameters")
        return Definition(product=data["product"], title=data["title"], scale_unit=data["scale_unit"], stages=stages)

    def unique(self, seen: set[str], value: str, path: NodePath, kind: str) -> None:
        if value in seen:
            self.error(path, f"{kind} id '{value}' is used twice: ids must be unique")
        seen.add(value)

    def stage(self, data: dict, path: NodePath) -> Stage:
        self.unique(self.stage_ids, data["id"], (*path, "id"), "stage")
        steps = tuple(self.step(s, (*path, "steps", i)) for i, s in enumerate(data["steps"]))
        return Stage(id=data["id"], name=data["name"], steps=steps)

    def earlier_step(self, step_id: str, path: NodePath, what: str) -> None:
        if step_id not in self.all_step_ids:
            self.error(path, f"{what} '{step_id}' is not a step of this MBR")
        elif step_id not in self.step_ids:
            self.error(path, f"{what} '{step_id}' is not an earlier step: a step can only follow steps above it "
                             "in the file")

    def step(self, data: dict, path: NodePath) -> Step:
        if "after" in data:
            after = tuple(data["after"])
            for i, predecessor in enumerate(after):
                if predecessor in after[:i]:
                    self.error((*path, "after", i), f"'{predecessor}' is listed twice in 'after'")
                self.earlier_step(predecessor, (*path, "after", i), "after:")
        else:
            after = (self.previous_step,) if self.previous_step else ()
        for i, kind in enumerate(data.get("equipment", ())):
            if self.equipment_kinds is not None and kind not in self.equipment_kinds:
                self.error((*path, "equipment", i), f"'{kind}' is not an equipment kind: use one of "
                                                    f"{', '.join(sorted(self.equipment_kinds))}")
        materials = tuple(self.material(m, (*path, "materials", i)) for i, m in enumerate(data.get("materials", ())))
        hold = self.hold(data["hold"], (*path, "hold")) if "hold" in data else None
        samples = []
        for i, sample in enumerate(data.get("samples", ())):
            self.unique(self.sample_ids, sample["id"], (*path, "samples", i, "id"), "sample")
            quantity = Decimal(sample["quantity"]) if "quantity" in sample else None
            samples.append(SamplingPoint(id=sample["id"], name=sample["name"], quantity=quantity,
                                         unit=sample.get("unit", ""), stage=sample.get("stage", "release")))
        in_scope = dict(self.parameter_types)  # earlier steps; this step's parameters join one by one
        instructions = []
        for i, instruction in enumerate(data.get("instructions", ())):
            parameters = tuple(self.parameter(p, (*path, "instructions", i, "parameters", j), in_scope)
                               for j, p in enumerate(instruction.get("parameters", ())))
            instructions.append(Instruction(text=instruction["text"], parameters=parameters))
        self.parameter_types.update(in_scope)
        self.unique(self.step_ids, data["id"], (*path, "id"), "step")
        self.previous_step = data["id"]
        return Step(id=data["id"], name=data["name"], after=after, optional=data.get("optional", False),
                    patient_material=data.get("patient_material", False), sops=tuple(data.get("sops", ())),
                    equipment=tuple(data.get("equipment", ())), materials=materials, hold=hold,
                    samples=tuple(samples), instructions=tuple(instructions))

    def material(self, data: dict, path: NodePath) -> MaterialLine:
        try:
            unknown = formulas.names(data["quantity"]) - {SCALE}
            if unknown:
                self.error((*path, "quantity"), f"a quantity may only use '{SCALE}', not {_listing(unknown)}")
        except formulas.FormulaError as e:
            self.error((*path, "quantity"), str(e))
        return MaterialLine(material=data["material"], quantity=data["quantity"], unit=data["unit"])

    def hold(self, data: dict, path: NodePath) -> HoldTime:
        self.earlier_step(data["after"], (*path, "after"), "hold after:")
        limits = {}
        for key in ("min", "max"):
            if key in data:
                try:
                    limits[key] = parse_duration(data[key])
                    if limits[key] > MAX_HOLD_MINUTES:
                        self.error((*path, key), f"'{data[key]}' is longer than 366 days")
                except ValueError as e:
                    self.error((*path, key), str(e))
        if not data.keys() & {"min", "max"}:
            self.error(path, "a hold time needs 'min', 'max' or both")
        if "min" in limits and "max" in limits and limits["min"] > limits["max"]:
            self.error((*path, "min"), f"hold min {data['min']} is longer than max {data['max']}")
        return HoldTime(after=data["after"], min_minutes=limits.get("min"), max_minutes=limits.get("max"))

    def parameter(self, data: dict, path: NodePath, in_scope: dict[str, str]) -> Parameter:
        kind, pid = data["type"], data["id"]
        if pid == SCALE or pid in formulas.FUNCTIONS or keyword.iskeyword(pid):
            self.error((*path, "id"), f"'{pid}' is a reserved name in formulas: choose another parameter id")
        elif pid in in_scope or pid in self.parameter_types:
            self.error((*path, "id"), f"parameter id '{pid}' is used twice: ids must be unique")

        def only_for(key: str, kinds: tuple[str, ...]) -> None:
            if key in data and kind not in kinds:
                self.error((*path, key), f"'{key}' applies only to type {' or '.join(kinds)}, not {kind}")

        only_for("formula", ("calculated",))
        only_for("choices", ("choice",))
        only_for("expected", ("yes_no", "choice"))
        only_for("scan", ("scan",))
        for key in ("normal", "acceptable", "decimals"):
            only_for(key, _NUMERIC)
        for key, kinds in (("formula", "calculated"), ("choices", "choice"), ("scan", "scan")):
            if kind == kinds and key not in data:
                self.error(path, f"'{key}' is missing: type {kind} needs it")
        if kind == "calculated" and "formula" in data:
            self.formula(data["formula"], (*path, "formula"), in_scope)
        choices = tuple(data.get("choices", ()))
        if len(set(choices)) != len(choices):
            self.error((*path, "choices"), "a choice is listed twice")
        expected = data.get("expected", "")
        if kind == "yes_no" and expected not in ("", "yes", "no"):
            self.error((*path, "expected"), f"expected must be yes or no, not '{expected}'")
        if kind == "choice" and expected and expected not in choices:
            self.error((*path, "expected"), f"expected '{expected}' is not one of the choices")
        ranges = {}
        for key in ("normal", "acceptable"):
            if key in data:
                try:
                    ranges[key] = parse_interval(data[key])
                except ValueError as e:
                    self.error((*path, key), str(e))
        if len(ranges) == 2 and not _within(ranges["normal"], ranges["acceptable"]):
            self.error((*path, "normal"), f"the normal range {data['normal']} must lie inside the acceptable "
                                          f"range {data['acceptable']}")
        in_scope[pid] = kind
        return Parameter(id=pid, label=data["label"], type=kind, unit=data.get("unit", ""),
                         decimals=data.get("decimals"), target=data.get("target", ""), normal=ranges.get("normal"),
                         acceptable=ranges.get("acceptable"), choices=choices, expected=expected,
                         criticality=data.get("criticality", "none"), verify=data.get("verify", False),
                         formula=data.get("formula", ""), scan=data.get("scan", ""),
                         required=data.get("required", True))

    def formula(self, text: str, path: NodePath, in_scope: dict[str, str]) -> None:
        try:
            used = formulas.names(text)
        except formulas.FormulaError as e:
            self.error(path, str(e))
            return
        for name in sorted(used - {SCALE}):
            if name not in in_scope:
                self.error(path, f"'{name}' is not a parameter entered before this one"
                           if name in self.all_parameter_ids else f"'{name}' is not a parameter of this MBR")
            elif in_scope[name] not in _NUMERIC:
                self.error(path, f"'{name}' is a {in_scope[name]} parameter, not a number")


def _listing(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in sorted(names))


def load(text: str, *, equipment_kinds: Collection[str] | None = None) -> Definition:
    """Read an MBR file (YAML or JSON); raise FormatError listing every problem with its line."""
    doc = _compose(text)
    data = doc.data
    if not isinstance(data, dict):
        raise FormatError([(1, "the file must be a mapping that starts with 'format: opencdmo-mbr/1'")])
    if data.get("format") not in SUPPORTED_FORMATS:
        found = f"'{data['format']}'" if "format" in data else "missing"
        raise FormatError([(doc.lines.get(("format",), 1), f"format is {found}: this version of OpenCDMO reads "
                                                            f"{', '.join(SUPPORTED_FORMATS)}")])
    if errors := _schema_errors(doc):
        raise FormatError(errors)
    if (steps := sum(len(stage["steps"]) for stage in data["stages"])) > MAX_STEPS:
        raise FormatError([(doc.lines[("stages",)], f"{steps} steps: an MBR file may have at most {MAX_STEPS}")])
    builder = _Builder(doc, equipment_kinds)
    definition = builder.definition()
    if builder.errors:
        raise FormatError(builder.errors)
    return definition


# ── Writing ─────────────────────────────────────────────────────────────────────────────────

class _Flow(list):
    """A list written on one line: [A1, B2]."""


class _FlowMap(dict):
    """A small mapping written on one line: {material: IL2, quantity: 100 * scale, unit: IU}."""


class _Number(str):
    """Text written unquoted when it reads back as the same text (quantities, targets)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # list items indented under their key


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _represent_number(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    tag = dumper.resolve(yaml.ScalarNode, value, (True, False))
    if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:str"):
        return _represent_str(dumper, value)
    return dumper.represent_scalar(tag, str(value))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Number, _represent_number)
_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))


def _parameter(p: Parameter) -> dict:
    out: dict = {"id": p.id, "label": p.label, "type": p.type}
    if p.unit:
        out["unit"] = p.unit
    if p.decimals is not None:
        out["decimals"] = p.decimals
    if p.formula:
        out["formula"] = p.formula
    if p.target:
        out["target"] = _Number(p.target)
    for key in ("normal", "acceptable"):
        if getattr(p, key) is not None:
            out[key] = interval_text(getattr(p, key))
    if p.choices:
        out["choices"] = _Flow(p.choices)
    if p.expected:
        out["expected"] = p.expected
    if p.scan:
        out["scan"] = p.scan
    if p.criticality != "none":
        out["criticality"] = p.criticality
    if p.verify:
        out["verify"] = True
    if not p.required:
        out["required"] = False
    return out


def _step(s: Step, previous: str | None) -> dict:
    out: dict = {"id": s.id, "name": s.name}
    if s.after != ((previous,) if previous else ()):
        out["after"] = _Flow(s.after)
    for key in ("optional", "patient_material"):
        if getattr(s, key):
            out[key] = True
    for key in ("sops", "equipment"):
        if getattr(s, key):
            out[key] = _Flow(getattr(s, key))
    if s.materials:
        out["materials"] = [_FlowMap(material=m.material, quantity=_Number(m.quantity), unit=m.unit)
                            for m in s.materials]
    if s.hold is not None:
        out["hold"] = _FlowMap(after=s.hold.after)
        for key, minutes in (("min", s.hold.min_minutes), ("max", s.hold.max_minutes)):
            if minutes is not None:
                out["hold"][key] = duration_text(minutes)
    if s.samples:
        out["samples"] = [_FlowMap(id=x.id, name=x.name,
                                   **({"quantity": _Number(number_text(x.quantity))} if x.quantity is not None else {}),
                                   **({"unit": x.unit} if x.unit else {}),
                                   **({"stage": x.stage} if x.stage != "release" else {})) for x in s.samples]
    if s.instructions:
        out["instructions"] = [{"text": i.text, **({"parameters": [_parameter(p) for p in i.parameters]}
                                                  if i.parameters else {})} for i in s.instructions]
    return out


def _document(definition: Definition) -> dict:
    stages, previous = [], None
    for stage in definition.stages:
        steps = []
        for step in stage.steps:
            steps.append(_step(step, previous))
            previous = step.id
        stages.append({"id": stage.id, "name": stage.name, "steps": steps})
    return {"format": definition.format, "product": definition.product, "title": definition.title,
            "scale_unit": definition.scale_unit, "stages": stages}


def dump_yaml(definition: Definition) -> str:
    return yaml.dump(_document(definition), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def dump_json(definition: Definition) -> str:
    return json.dumps(_document(definition), indent=2, ensure_ascii=False) + "\n"
