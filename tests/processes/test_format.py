"""The MBR file format opencdmo-mbr/1: loss-free round trips and line-numbered errors."""

import json
import keyword
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencdmo.processes.domain import formula, mbr_format
from opencdmo.processes.domain.definition import (
    CRITICALITIES,
    PARAMETER_TYPES,
    SCAN_KINDS,
    Definition,
    HoldTime,
    Instruction,
    MaterialLine,
    Parameter,
    Range,
    SamplingPoint,
    Stage,
    Step,
    from_dict,
    to_dict,
)
from opencdmo.processes.domain.mbr_format import FormatError, dump_json, dump_yaml, load
from tests.processes.builders import small_definition

# ── Generated definitions ───────────────────────────────────────────────────────────────────

TRICKY = ["yes", "no", "null", "~", "true", "1.0", "3e8", "0x1F", "- dash", "a: b", "# hash", "'quoted'",
          '"double"', " leading space", "trailing space ", "[1, 2]", "{a: 1}", "&anchor", "*alias", "%", "@", "|",
          "µL", "°C", "≥ 5", "Ünïcödé", "2026-01-01", "12:30", "=", "?"]
texts = st.one_of(st.sampled_from(TRICKY),
                  st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1,
                          max_size=20))
multiline = st.one_of(texts, st.lists(texts, min_size=2, max_size=3).map("\n".join), texts.map(lambda t: t + "\n"))
units = st.one_of(st.just(""), st.sampled_from(["mL", "°C", "%", "cells", "TU/mL", "patient dose"]), texts)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,6}", fullmatch=True)
parameter_ids = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda i: i != mbr_format.SCALE and i not in formula.FUNCTIONS and not keyword.iskeyword(i))
numbers = st.one_of(st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, allow_infinity=False, places=3),
                    st.sampled_from(["1e8", "5E+7", "0.10", "-2.5e-3", "0", "-0", "1E-7", "36.5"]).map(Decimal))


@st.composite
def ranges(draw) -> tuple[Range | None, Range | None]:
    """(normal, acceptable), the normal range inside the acceptable one."""
    a, b, c, d = sorted(draw(st.lists(numbers, min_size=4, max_size=4, unique_by=lambda x: x.normalize())))
    flags = st.booleans()
    acceptable = draw(st.sampled_from([Range(a, d, draw(flags), draw(flags)), Range(low=a, low_inclusive=draw(flags)),
                                       Range(high=d, high_inclusive=draw(flags))]))
    normal = Range(b, c, draw(flags), draw(flags))
    return draw(st.sampled_from([(None, None), (normal, None), (None, acceptable), (normal, acceptable)]))


@st.composite
def parameters(draw, pid: str, numeric_in_scope: list[str]) -> Parameter:
    kind = draw(st.sampled_from(PARAMETER_TYPES))
    common = {"id": pid, "label": draw(texts), "type": kind, "unit": draw(units),
              "target": draw(st.one_of(st.just(""), texts, numbers.map(str))),
              "criticality": draw(st.sampled_from(CRITICALITIES)), "verify": draw(st.booleans()),
              "required": draw(st.booleans())}
    if kind in ("number", "calculated"):
        normal, acceptable = draw(ranges())
        common |= {"normal": normal, "acceptable": acceptable,
                   "decimals": draw(st.one_of(st.none(), st.integers(0, 12)))}
    if kind == "calculated":
        names = draw(st.lists(st.sampled_from([*numeric_in_scope, "scale"]), min_size=1, max_size=3))
        common["formula"] = draw(st.sampled_from([" * ", " + ", "/", " - "])).join(names)
    if kind == "choice":
        choices = draw(st.lists(texts, min_size=1, max_size=4, unique=True))
        common |= {"choices": tuple(choices), "expected": draw(st.sampled_from(["", *choices]))}
    if kind == "yes_no":
        common["expected"] = draw(st.sampled_from(["", "yes", "no"]))
    if kind == "scan":
        common["scan"] = draw(st.sampled_from(SCAN_KINDS))
    return Parameter(**common)


@st.composite
def definitions(draw) -> Definition:
    step_ids = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    stage_ids = draw(st.lists(ids, min_size=1, max_size=min(3, len(step_ids)), unique=True))
    all_parameter_ids = iter(draw(st.lists(parameter_ids, max_size=12, unique=True)))
    sample_ids = iter(draw(st.lists(ids, max_size=6, unique=True)))
    numeric: list[str] = []
    steps = []
    for i, step_id in enumerate(step_ids):
        earlier = step_ids[:i]
        after = draw(st.one_of(st.just((earlier[-1],) if earlier else ()),
                               st.lists(st.sampled_from(earlier), unique=True).map(tuple) if earlier else st.just(())))
        hold = None
        if earlier and draw(st.booleans()):
            low, high = sorted(draw(st.lists(st.integers(0, 5000), min_size=2, max_size=2)))
            hold = HoldTime(draw(st.sampled_from(earlier)), *draw(st.sampled_from([(low, high), (low, None),
                                                                                   (None, high)])))
        instructions = []
        for _ in range(draw(st.integers(0, 2))):
            params = []
            for _ in range(draw(st.integers(0, 3))):
                pid = next(all_parameter_ids, None)
                if pid is None:
                    break
                parameter = draw(parameters(pid, numeric))
                params.append(parameter)
                if parameter.type in ("number", "calculated"):
                    numeric.append(pid)
            instructions.append(Instruction(draw(multiline), tuple(params)))
        samples = []
        for _ in range(draw(st.integers(0, 2))):
            if (sample_id := next(sample_ids, None)) is not None:
                samples.append(SamplingPoint(sample_id, draw(texts), draw(st.one_of(st.none(), numbers)),
                                             draw(units), draw(st.sampled_from(["release", "in_process"]))))
        steps.append(Step(
            id=step_id, name=draw(texts), after=after, optional=draw(st.booleans()),
            patient_material=draw(st.booleans()), sops=tuple(draw(st.lists(texts, max_size=2))),
            equipment=tuple(draw(st.lists(texts, max_size=2))),
            materials=tuple(MaterialLine(draw(texts), draw(st.sampled_from(["10 * scale", "scale", "2.5", "1e3*scale"])),
                                         draw(units)) for _ in range(draw(st.integers(0, 2)))),
            instructions=tuple(instructions), samples=tuple(samples), hold=hold))
    # Cut the steps into consecutive stages, one or more steps each.
    cuts = sorted(draw(st.lists(st.integers(1, len(steps) - 1), min_size=len(stage_ids) - 1,
                                max_size=len(stage_ids) - 1, unique=True))) if len(stage_ids) > 1 else []
    bounds = [0, *cuts, len(steps)]
    stage_ids = stage_ids[:len(bounds) - 1]
    stages = tuple(Stage(stage_id, draw(texts), tuple(steps[bounds[i]:bounds[i + 1]]))
                   for i, stage_id in enumerate(stage_ids))
    return Definition(product=draw(texts), title=draw(multiline), scale_unit=draw(units.filter(bool)), stages=stages)


@pytest.mark.req("A11-2")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_every_definition_survives_export_and_import(definition):
    text = dump_yaml(definition)
    assert load(text) == definition
    assert to_dict(load(text)) == to_dict(definition)  # the stored JSON, exact decimals included
    assert from_dict(json.loads(json.dumps(to_dict(definition)))) == definition
    assert load(dump_json(definition)) == definition
    assert dump_yaml(load(text)) == text


@pytest.mark.req("A11-2")
def test_the_small_definition_survives_export_and_import():
    definition = small_definition(sop="SOP-0003", material="IL2-RH", equipment="biosafety_cabinet")
    text = dump_yaml(definition)
    assert load(text, equipment_kinds=["biosafety_cabinet"]) == definition
    assert load(dump_json(definition)) == definition
    assert from_dict(to_dict(load(text))) == definition
    assert dump_yaml(load(text)) == text


def test_export_is_readable_yaml():
    text = dump_yaml(small_definition(material="IL2-RH"))
    assert text.startswith("format: opencdmo-mbr/1\nproduct: ACM-101\ntitle: CD19 CAR-T (short)\n")
    assert "    steps:\n      - id: A1\n" in text  # block style, list items indented under their key
    assert "after: [A2, B2]" in text and "after: [A1]" in text  # B1 does not follow A2, the step above it
    assert "  - id: B2\n        name: Incubate\n        instructions:" in text  # default `after` left out
    assert "normal: '[1e8, 5e8]'" in text and "acceptable: '[1.5, 6)'" in text and "normal: '>= 80'" in text
    assert "hold: {after: A1, max: 4h}" in text
    assert "- {material: IL2-RH, quantity: 10 * scale, unit: mL}" in text
    assert "target: 37.0" in text and "expected: 'yes'" in text


def test_multi_line_text_is_a_literal_block():
    definition = small_definition()
    step = definition.stages[0].steps[0]
    step = Step(**{**step.__dict__, "instructions": (Instruction("Inspect the bag.\nCheck the label.\n"),)})
    definition = Definition(definition.product, definition.title, definition.scale_unit,
                            ((Stage("A", "Start", (step,))),))
    text = dump_yaml(definition)
    assert "- text: |\n              Inspect the bag.\n              Check the label.\n" in text
    assert load(text) == definition


def test_the_first_step_with_no_predecessor_and_a_later_one_with_none_are_both_written_correctly():
    steps = (Step("A1", "First"), Step("A2", "Parallel start", after=()), Step("A3", "Join", after=("A1", "A2")))
    definition = Definition("P", "T", "L", (Stage("A", "Stage", steps),))
    text = dump_yaml(definition)
    assert "- id: A1\n        name: First\n      - id: A2\n        name: Parallel start\n        after: []\n" in text
    assert load(text) == definition


def test_durations_are_normalised_to_the_largest_units():
    assert [mbr_format.duration_text(m) for m in (0, 45, 60, 90, 1440, 1530, 2 * 1440)] == [
        "0min", "45min", "1h", "1h30min", "1d", "1d1h30min", "2d"]
    assert [mbr_format.parse_duration(t) for t in ("45min", "4h", "2d", "1h30min", "90min")] == [45, 240, 2880, 90, 90]
    for bad in ("", "4 h", "h", "1.5h", "30m", "-1h", "1min2h"):
        with pytest.raises(ValueError, match="not a duration"):
            mbr_format.parse_duration(bad)


@pytest.mark.parametrize(("text", "expected"), [
    ("[1, 2]", Range(Decimal(1), Decimal(2))),
    ("(1, 2]", Range(Decimal(1), Decimal(2), low_inclusive=False)),
    ("[1, 2)", Range(Decimal(1), Decimal(2), high_inclusive=False)),
    ("( -1.5 ,6 )", Range(Decimal("-1.5"), Decimal(6), False, False)),
    (">= 70", Range(low=Decimal(70))),
    ("≥ 70", Range(low=Decimal(70))),
    ("> 1e8", Range(low=Decimal("1e8"), low_inclusive=False)),
    ("<= 6", Range(high=Decimal(6))),
    ("< 6", Range(high=Decimal(6), high_inclusive=False)),
    ("[5, 5]", Range(Decimal(5), Decimal(5))),
])
def test_interval_notation(text, expected):
    assert mbr_format.parse_interval(text) == expected


@pytest.mark.parametrize("text", ["[2, 1]", "(5, 5]", "[1; 2]", "1-2", "[a, 2]", "=> 5", "[1, 2", "", "[nan, 1]"])
def test_bad_intervals_are_refused(text):
    with pytest.raises(ValueError, match="interval"):
        mbr_format.parse_interval(text)


def test_the_example_of_the_reference_page_is_a_valid_file():
    page = (Path(__file__).parents[2] / "docs" / "mbr-format.md").read_text(encoding="utf-8")
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    definition = load(example, equipment_kinds=["biosafety_cabinet"])
    assert definition.step("S2.1").hold == HoldTime("S1.1", 30, 240)
    assert definition.step("S2.2").after == ("S1.2", "S2.1")
    assert load(dump_yaml(definition)) == definition


def test_the_published_schema_lists_the_types_and_kinds_of_the_definition():
    parameter = mbr_format.schema()["$defs"]["parameter"]["properties"]
    assert tuple(parameter["type"]["enum"]) == PARAMETER_TYPES
    assert tuple(parameter["criticality"]["enum"]) == CRITICALITIES
    assert tuple(parameter["scan"]["enum"]) == SCAN_KINDS
    jsonschema.Draft202012Validator.check_schema(mbr_format.schema())
    jsonschema.validate(json.loads(dump_json(small_definition())), mbr_format.schema())


# ── Line-numbered errors ────────────────────────────────────────────────────────────────────

HEADER = """\
format: opencdmo-mbr/1
product: HLX-101
title: CAR-T
scale_unit: patient dose
stages:
  - id: S1
    name: Receipt
    steps:
"""


def errors_of(body: str, **kwargs) -> list[tuple[int | None, str]]:
    with pytest.raises(FormatError) as caught:
        load(HEADER + body, **kwargs)
    return caught.value.errors


def lines_of(body: str, **kwargs) -> list[int | None]:
    return [line for line, _ in errors_of(body, **kwargs)]


STEP = """\
      - id: S1.1
        name: Receive
        instructions:
          - text: Count
            parameters:
"""


def test_a_valid_file_loads():
    definition = load(HEADER + STEP + "              - {id: cells, label: Cells, type: number, normal: '[1, 2]'}\n")
    assert definition.parameters()["cells"].normal == Range(Decimal(1), Decimal(2))


@pytest.mark.req("A11-3")
def test_bad_yaml_reports_the_line_of_the_syntax_error():
    errors = errors_of("      - id: S1.1\n        name: Receive\n       optional: true\n")
    assert errors[0][0] == 11 and "not valid YAML" in errors[0][1]


@pytest.mark.req("A11-3")
def test_an_unknown_key_is_refused_at_its_line():
    errors = errors_of(STEP + "              - id: cells\n                label: Cells\n                tpye: number\n")
    assert (14, "'type' is missing") in errors
    assert any(line == 16 and "unknown key 'tpye'" in message for line, message in errors)


@pytest.mark.req("A11-3")
def test_a_duplicate_id_is_refused_at_the_second_one():
    errors = errors_of(STEP + """\
              - {id: cells, label: Cells, type: number}
      - id: S1.2
        name: Count again
        instructions:
          - text: Count
            parameters:
              - {id: cells, label: Cells, type: number}
      - id: S1.1
        name: Again
""")
    assert errors == [(20, "parameter id 'cells' is used twice: ids must be unique"),
                      (21, "step id 'S1.1' is used twice: ids must be unique")]


@pytest.mark.req("P11-1f")
def test_a_step_cannot_follow_a_later_step():
    errors = errors_of("""\
      - id: S1.1
        name: Receive
        after: [S1.2]
      - id: S1.2
        name: Inspect
        after: [S1.9]
        hold: {after: S1.2, max: 4h}
""")
    assert errors == [
        (11, "after: 'S1.2' is not an earlier step: a step can only follow steps above it in the file"),
        (14, "after: 'S1.9' is not a step of this MBR"),
        (15, "hold after: 'S1.2' is not an earlier step: a step can only follow steps above it in the file")]


@pytest.mark.req("A11-3")
def test_a_bad_formula_is_refused_at_its_line():
    errors = errors_of(STEP + """\
              - {id: titer, label: Titer, type: text}
              - id: volume
                label: Volume
                type: calculated
                formula: moi * cells / titer
              - {id: moi, label: MOI, type: number}
              - {id: dose, label: Dose, type: calculated, formula: "__import__('os').system('x')"}
              - {id: half, label: Half, type: calculated, formula: "volume / "}
""")
    assert errors[:3] == [(18, "'cells' is not a parameter of this MBR"),
                          (18, "'moi' is not a parameter entered before this one"),
                          (18, "'titer' is a text parameter, not a number")]
    assert [line for line, _ in errors[3:]] == [20, 21]


@pytest.mark.req("A11-3")
def test_the_normal_range_must_lie_inside_the_acceptable_range():
    errors = errors_of(STEP + """\
              - id: temperature
                label: Temperature
                type: number
                normal: "[36.5, 37.5]"
                acceptable: "(36.5, 38]"
""")
    assert errors == [(17, "the normal range [36.5, 37.5] must lie inside the acceptable range (36.5, 38]")]


def test_rules_by_parameter_type():
    errors = errors_of(STEP + """\
              - {id: a, label: A, type: number, formula: "1 + 1", choices: [x], scan: lot, expected: "yes"}
              - {id: b, label: B, type: calculated}
              - {id: c, label: C, type: choice, choices: [red, blue, red], expected: green}
              - {id: d, label: D, type: yes_no, expected: maybe, decimals: 2, normal: ">= 1"}
              - {id: e, label: E, type: scan}
              - {id: f, label: F, type: text, decimals: 2}
              - {id: lambda, label: Lambda, type: number}
              - {id: scale, label: Scale, type: number}
              - {id: g, label: G, type: number, normal: "[2, 1]", acceptable: "[1, 2]"}
""")
    by_line = {}
    for line, message in errors:
        by_line.setdefault(line, []).append(message)
    assert len(by_line[14]) == 4  # formula, choices, expected, scan do not apply to a number
    assert by_line[15] == ["'formula' is missing: type calculated needs it"]
    assert sorted(by_line[16]) == ["a choice is listed twice", "expected 'green' is not one of the choices"]
    assert len(by_line[17]) == 3
    assert by_line[18] == ["'scan' is missing: type scan needs it"]
    assert by_line[19] == ["'decimals' applies only to type number or calculated, not text"]
    assert by_line[20] == ["'lambda' is a reserved name in formulas: choose another parameter id"]
    assert by_line[21] == ["'scale' is a reserved name in formulas: choose another parameter id"]
    assert by_line[22] == ["'[2, 1]' is an empty interval: the lower end must come first"]


def test_structure_errors_come_first_with_their_lines():
    errors = errors_of(STEP + """\
              - {id: f, label: F, type: number, decimals: 13, criticality: high}
              - {id: g, label: G, type: number, acceptable: "1 to 2", verify: "sure"}
""")
    assert errors == [(14, "'criticality' must be one of cpp, kpp, ipc, none, not 'high'"),
                      (14, "'decimals' must be from 0 to 12"),
                      (15, "'acceptable': '1 to 2' is not an interval: [a, b], (a, b], [a, b), (a, b), >= a, > a, "
                           "<= b or < b"),
                      (15, "'verify' must be true or false")]


def test_step_rules_with_lines():
    errors = errors_of("""\
      - id: S1.1
        name: Receive
        equipment: [biosafety_cabinet, centrifuge]
        materials:
          - {material: IL2, quantity: 10 * volume, unit: mL}
          - {material: IL2, quantity: "10 *", unit: mL}
        samples:
          - {id: SP-1, name: Sterility, quantity: "one"}
      - id: S1.2
        name: Wait
        hold: {after: S1.1, min: 4h, max: 30min}
        samples:
          - {id: SP-1, name: Sterility again}
      - id: S1.3
        name: Wait more
        hold: {after: S1.2, max: 4 hours}
      - id: S1.4
        name: Wait without limits
        hold: {after: S1.3}
""", equipment_kinds=["biosafety_cabinet", "incubator"])
    lines = [line for line, _ in errors]
    assert lines == [16, 24], errors  # schema errors stop before the rules between fields
    errors = errors_of("""\
      - id: S1.1
        name: Receive
        equipment: [biosafety_cabinet, centrifuge]
        materials:
          - {material: IL2, quantity: 10 * volume, unit: mL}
          - {material: IL2, quantity: "10 *", unit: mL}
        samples:
          - {id: SP-1, name: Sterility, quantity: 1.5}
      - id: S1.2
        name: Wait
        hold: {after: S1.1, min: 4h, max: 30min}
        samples:
          - {id: SP-1, name: Sterility again}
      - id: S1.4
        name: Wait without limits
        hold: {after: S1.2}
""", equipment_kinds=["biosafety_cabinet", "incubator"])
    assert errors == [
        (11, "'centrifuge' is not an equipment kind: use one of biosafety_cabinet, incubator"),
        (13, "a quantity may only use 'scale', not 'volume'"),
        (14, "'10 *' is not a valid formula (invalid syntax)."),
        (19, "hold min 4h is longer than max 30min"),
        (21, "sample id 'SP-1' is used twice: ids must be unique"),
        (24, "a hold time needs 'min', 'max' or both")]


def test_the_format_must_be_exactly_opencdmo_mbr_1():
    with pytest.raises(FormatError) as caught:
        load(HEADER.replace("opencdmo-mbr/1", "opencdmo-mbr/2") + STEP)
    assert caught.value.errors == [(1, "format is 'opencdmo-mbr/2': this version of OpenCDMO reads opencdmo-mbr/1")]
    assert str(caught.value) == "line 1: format is 'opencdmo-mbr/2': this version of OpenCDMO reads opencdmo-mbr/1"


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty."),
    ("- a\n- b\n", "the file must be a mapping"),
    ("format: opencdmo-mbr/1\nproduct: A\nproduct: B\n", "key 'product' is given twice"),
    ("format: opencdmo-mbr/1\nx: &a [1, 2]\ny: *a\n", "anchors and aliases"),
    ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ("[" * 100_000, "nest"),
    ("x" * (mbr_format.MAX_BYTES + 1), "larger than 2 MB"),
    ("format: opencdmo-mbr/1\nproduct: \ud83d\n", "not valid UTF-8"),
    ('format: opencdmo-mbr/1\nproduct: "A\\x00B"\n', "control characters"),
    ('format: opencdmo-mbr/1\nproduct: "\\ud83d"\n', "control characters|invalid Unicode"),
])
def test_unsafe_or_empty_files_are_refused(text, message):
    with pytest.raises(FormatError, match=message):
        load(text)


def test_a_json_file_reports_lines_too():
    text = json.dumps(json.loads(dump_json(small_definition())) | {"colour": "blue"}, indent=2)
    with pytest.raises(FormatError) as caught:
        load(text)
    line = text.splitlines().index('  "colour": "blue"') + 1
    assert [line for line, _ in caught.value.errors] == [line]


def test_too_many_steps_are_refused():
    steps = "".join(f"      - {{id: s{i}, name: Step}}\n" for i in range(mbr_format.MAX_STEPS + 1))
    assert errors_of(steps) == [(6, f"{mbr_format.MAX_STEPS + 1} steps: an MBR file may have at most 1000")]


def test_at_most_fifty_errors_are_listed_in_line_order():
    steps = "".join(f"      - {{id: s{i}, name: Step, after: [x]}}\n" for i in range(80))
    errors = errors_of(steps)
    assert len(errors) == mbr_format.MAX_ERRORS
    assert [line for line, _ in errors] == list(range(9, 59))


def test_plain_scalars_under_text_keys_are_read_as_written():
    definition = load(HEADER + STEP + """\
              - {id: answer, label: Answer, type: yes_no, expected: yes}
              - {id: temperature, label: 37, type: number, target: 37.0}
""" + "      - {id: 2.1, name: Next, samples: [{id: SP1, name: Vial, quantity: 1e8}]}\n")
    parameters = definition.parameters()
    assert parameters["answer"].expected == "yes"
    assert parameters["temperature"].target == "37.0" and parameters["temperature"].label == "37"
    assert definition.step("2.1").samples[0].quantity.as_tuple() == Decimal("1e8").as_tuple()


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_damaged_file_is_either_valid_or_refused_with_format_errors(data):
    lines = dump_yaml(small_definition(material="IL2")).splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.sampled_from([
            "", lines[i][1:], lines[i].replace(": ", ":"), lines[i].replace("'", ""), " " + lines[i],
            lines[i].replace("]", ""), lines[i].replace("scale", "scale("), lines[i].replace("[", "{"),
            data.draw(st.text(max_size=20)) + "\n"]))
    try:
        load("".join(lines))
    except FormatError as e:
        assert e.errors and all(line is None or line >= 1 for line, _ in e.errors)


def test_a_json_syntax_error_reports_its_line():
    with pytest.raises(FormatError) as caught:
        load('{\n  "format": "opencdmo-mbr/1",\n  "product": "X"\n  "title": "T"\n}\n')
    [(line, message)] = caught.value.errors
    assert line == 4 and message.startswith("not valid YAML or JSON: ")


def test_too_many_parameters_are_refused(monkeypatch):
    monkeypatch.setattr(mbr_format, "MAX_PARAMETERS", 2)
    parameters = "".join(f"              - {{id: p{i}, label: P, type: text}}\n" for i in range(3))
    assert errors_of(STEP + parameters) == [(6, "an MBR file may have at most 2 parameters")]
