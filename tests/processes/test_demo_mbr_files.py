"""The demo master batch records shipped in processes/mbr_files: they import, have the size and
shape of a real process (issue 5: at least 30 steps with real ranges), round-trip without loss,
calculate what the process says, and name only documents, materials and equipment kinds the
demo has. Pure: no database."""

from decimal import Decimal

import pytest

from opencdmo.documents.demo import DOCUMENTS
from opencdmo.documents.domain.rules import document_number
from opencdmo.facilities.models import Equipment
from opencdmo.materials.demo import MATERIALS
from opencdmo.processes.demo import MBR_FILES
from opencdmo.processes.domain import entries, formula, mbr_format
from opencdmo.processes.domain.definition import Definition, from_dict, to_dict

PRODUCTS = {"car-t.yaml": "HLX-101", "aav.yaml": "NVG-201"}


def _load(filename: str) -> Definition:
    return mbr_format.load((MBR_FILES / filename).read_text(encoding="utf-8"), equipment_kinds=Equipment.Kind.values)


@pytest.fixture(scope="module", params=sorted(PRODUCTS))
def demo(request) -> tuple[str, Definition]:
    return request.param, _load(request.param)


def _calculate(definition: Definition, **values) -> dict[str, Decimal]:
    """Every calculated parameter, in file order, from the entered `values` (and `scale`)."""
    known = {name: Decimal(str(value)) for name, value in values.items()}
    for parameter in definition.parameters().values():
        if parameter.type == "calculated" and formula.names(parameter.formula) <= known.keys():
            known[parameter.id] = entries.calculate(parameter, known).number
    return known


def test_each_file_is_a_realistic_process_of_its_product(demo):
    filename, definition = demo
    steps = list(definition.steps())
    parameters = definition.parameters().values()
    assert definition.product == PRODUCTS[filename]
    assert len(steps) >= 35 and 6 <= len(definition.stages) <= 9
    assert any(p.type == "calculated" for p in parameters)
    assert any(p.criticality == "cpp" and p.verify for p in parameters)
    assert any(s.hold is not None for s in steps)
    assert any(s.samples for s in steps)
    assert any(s.optional for s in steps)
    assert any(s.materials for s in steps)
    # A parallel branch: two steps with the same predecessors, joined later by a step with several.
    assert any(len(s.after) > 1 for s in steps)
    assert len({s.after for s in steps}) < len(steps)


def test_each_file_round_trips_identically(demo):
    _, definition = demo
    assert mbr_format.load(mbr_format.dump_yaml(definition)) == definition
    assert mbr_format.load(mbr_format.dump_json(definition)) == definition
    assert from_dict(to_dict(definition)) == definition


def test_files_name_only_what_the_demo_has(demo):
    _, definition = demo
    sequence: dict[str, int] = {}
    numbers = set()
    for _, doc_type, *_ in DOCUMENTS:  # numbered per type in creation order, as the documents demo does
        sequence[doc_type] = sequence.get(doc_type, 0) + 1
        numbers.add(document_number(doc_type, sequence[doc_type]))
    units = {code: unit for code, _, _, _, unit, *_ in MATERIALS}
    steps = list(definition.steps())
    assert {sop for s in steps for sop in s.sops} <= numbers
    assert {(m.material, m.unit) for s in steps for m in s.materials} <= set(units.items())


def test_car_t_calculates_vector_volume_and_dose_as_the_process_does():
    definition = _load("car-t.yaml")
    values = _calculate(definition, moi=2, cells_at_transduction="1.0e8", vector_titer="2.1e8",
                        harvest_concentration="2.0e7", harvest_volume=100, post_wash_volume=20, car_positive=40,
                        patient_weight=70, cs10_volume_added=25, final_volume=50, cells_seeded="1.0e8")
    assert values["vector_volume"] == Decimal("0.95")  # MOI × cells ÷ titer, mL to 2 decimals
    assert values["culture_volume"] == Decimal("100")  # seeded at 1.0e6 cells/mL
    assert values["dose_car_cells"] == Decimal("1.4e8")  # 2e6 per kg × 70 kg, below the 2e8 cap
    assert values["dose_viable_cells"] == Decimal("3.5e8")
    assert values["dose_harvest_volume"] == Decimal("3.50")
    assert values["dmso_percent"] == Decimal("5.0")
    heavy = _calculate(definition, patient_weight=120)
    assert heavy["dose_car_cells"] == Decimal("2e8")  # capped


def test_aav_calculates_plasmid_and_pei_from_cell_density_and_volume():
    definition = _load("aav.yaml")
    values = _calculate(definition, scale=50, n1_vcd="5.0e6", tx_vcd="2.0e6", tx_volume=50, helper_concentration=1,
                        repcap_concentration=1, smn1_concentration=1, pei_concentration=2)
    assert values["inoculum_volume"] == Decimal("5000")  # mL of N-1 for 0.5e6 cells/mL in 50 L
    assert values["dna_total"] == Decimal("100.0")  # mg: 1 µg per 1e6 of 1e11 cells
    assert (values["helper_volume"], values["repcap_volume"], values["smn1_volume"]) == (
        Decimal("50.0"), Decimal("25.0"), Decimal("25.0"))  # 2 : 1 : 1 by mass
    assert values["pei_volume"] == Decimal("100.0")  # PEI : DNA 2 : 1, from a 2 mg/mL stock
    bom = {m.material: entries.material_quantity(m, Decimal(50)) for s in definition.steps() for m in s.materials
           if m.material.startswith(("PDNA", "PEI"))}
    assert bom == {"PDNA-HELPER": 50, "PDNA-REPCAP9": 25, "PDNA-SMN1": 25, "PEI-MAX": 100}
    medium = sum(entries.material_quantity(m, Decimal(50)) for s in definition.steps() for m in s.materials
                 if m.material == "HEK-MED")
    assert medium <= 50_000  # mL: seed train, production and complexation fit the 50 L the culture holds
