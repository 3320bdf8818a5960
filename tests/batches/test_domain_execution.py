"""The pure rules of execution: step order over the `after` graph, hold times, what a step lacks."""

import datetime as dt

import pytest

from opencdmo.batches.domain import execution
from opencdmo.processes.domain.definition import HoldTime, Instruction, MaterialLine, Parameter, SamplingPoint, Step

A1, A2 = Step(id="A1", name="Receive"), Step(id="A2", name="Sample", after=("A1",), optional=True)
B1 = Step(id="B1", name="Transduce", after=("A1",))
B3 = Step(id="B3", name="Harvest", after=("A2", "B1"))
STEPS = (A1, A2, B1, B3)
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@pytest.mark.req("P11-1f")
def test_a_step_waits_for_every_predecessor_and_parallel_branches_open_together():
    statuses = {"A1": "pending", "A2": "pending", "B1": "pending", "B3": "pending"}
    assert execution.next_steps(STEPS, statuses) == ["A1"]
    statuses["A1"] = "in_progress"
    assert execution.next_steps(STEPS, statuses) == []
    statuses["A1"] = "completed"
    assert execution.next_steps(STEPS, statuses) == ["A2", "B1"]  # parallel branches
    statuses["B1"] = "completed"
    assert execution.waiting_for(B3, statuses) == ["A2"]
    statuses["A2"] = "skipped"
    assert execution.next_steps(STEPS, statuses) == ["B3"]


def test_hold_time_is_checked_at_both_ends_and_only_after_a_completed_step():
    hold = HoldTime("A1", min_minutes=30, max_minutes=240)
    assert execution.hold_time_problem(hold, T0, T0 + dt.timedelta(minutes=30)) is None
    assert execution.hold_time_problem(hold, T0, T0 + dt.timedelta(minutes=240)) is None
    assert "minimum hold time is 30 min" in execution.hold_time_problem(hold, T0, T0 + dt.timedelta(minutes=29))
    assert execution.hold_time_problem(hold, T0, T0 + dt.timedelta(minutes=241)) == (
        "started 4 h 01 min after step A1 was completed; the maximum hold time is 4 h 00 min")
    assert execution.hold_time_problem(hold, None, T0) is None


def test_what_a_step_lacks_names_each_thing_to_do():
    cells = Parameter(id="cells", label="Viable cells", type="number", verify=True)
    step = Step(id="B1", name="Transduce", equipment=("biosafety_cabinet",),
                materials=(MaterialLine("LV-CD19", "10 * scale", "mL"),), samples=(SamplingPoint("SP-1", "Sterility"),),
                instructions=(Instruction("Count.", (cells,)),))
    assert execution.missing(step, entered=(), scanned_kinds=(), used_lines=(), sampled=(), unverified=()) == [
        "a value for Viable cells", "a scan of the biosafety cabinet", "a lot of LV-CD19", "the sample Sterility"]
    assert execution.missing(step, entered={"cells"}, scanned_kinds={"biosafety_cabinet"}, used_lines={0},
                             sampled={"SP-1"}, unverified=["cells"]) == ["second-person verification of Viable cells"]


def test_a_submission_id_has_1_to_64_characters():
    assert execution.check_submission_id(" abc ") == "abc"
    for bad in ("", "  ", "x" * 65, None, 12):
        with pytest.raises(ValueError, match="submission id"):
            execution.check_submission_id(bad)


def test_the_data_hash_changes_with_any_value():
    one = execution.data_hash(entries=[{"parameter": "moi", "value": "3"}], scans=[], uses=[], samples=[])
    assert one == execution.data_hash(entries=[{"value": "3", "parameter": "moi"}], scans=[], uses=[], samples=[])
    assert one != execution.data_hash(entries=[{"parameter": "moi", "value": "4"}], scans=[], uses=[], samples=[])
