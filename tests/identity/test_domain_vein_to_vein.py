"""Vein-to-vein windows, pure: where a window stands at the exact boundaries of its warning margin
and its limit, how therapies rank by urgency, and the time since collection."""

import datetime as dt

import pytest

from opencdmo.identity.domain.vein_to_vein import (
    State,
    Window,
    duration_text,
    elapsed_marks,
    flag,
    next_deadline,
    urgency,
    vein_to_vein,
    window_state,
    window_states,
)

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)
TO_RECEIPT = Window("collection", "receipt", limit_hours=48, warn_hours=6)


def at(hours: float) -> dt.datetime:
    return T0 + hours * H


class TestWindowState:
    def test_not_started_before_its_start_milestone(self):
        state = window_state(TO_RECEIPT, {"ordered": at(-100)}, at(0))
        assert state.state is State.NOT_STARTED
        assert (state.started_at, state.remaining, state.deadline) == (None, None, None)

    def test_an_end_without_a_start_cannot_be_measured(self):
        assert window_state(TO_RECEIPT, {"receipt": at(1)}, at(2)).state is State.NOT_STARTED

    def test_running_with_the_time_remaining_until_start_plus_limit(self):
        state = window_state(TO_RECEIPT, {"collection": T0}, at(10))
        assert state.state is State.RUNNING
        assert state.remaining == 38 * H and state.elapsed == 10 * H
        assert state.deadline == at(48)
        assert state.is_open

    @pytest.mark.parametrize(("now", "expected"), [
        (at(42) - SECOND, State.RUNNING),  # remaining just over the warning margin
        (at(42), State.AT_RISK),  # remaining exactly the margin: at risk
        (at(48), State.AT_RISK),  # exactly at the limit: still in time
        (at(48) + SECOND, State.MISSED),  # a second over: missed while still running
    ])
    def test_boundaries_while_running(self, now, expected):
        assert window_state(TO_RECEIPT, {"collection": T0}, now).state is expected

    @pytest.mark.parametrize(("ended", "expected"), [
        (at(48), State.MET),  # ended exactly at the limit
        (at(47), State.MET),  # ended inside the warning margin: met all the same
        (at(48) + SECOND, State.MISSED),  # ended late
    ])
    def test_boundaries_once_ended(self, ended, expected):
        state = window_state(TO_RECEIPT, {"collection": T0, "receipt": ended}, at(500))
        assert state.state is expected
        assert state.ended_at == ended and not state.is_open
        assert state.elapsed == ended - T0  # measured to its end, not to now

    def test_missed_has_a_negative_remaining_time(self):
        state = window_state(TO_RECEIPT, {"collection": T0, "receipt": at(50)}, at(60))
        assert state.remaining == -2 * H

    def test_without_a_warning_margin_it_is_at_risk_only_at_the_limit(self):
        window = Window("collection", "receipt", 48)
        assert window_state(window, {"collection": T0}, at(48) - SECOND).state is State.RUNNING
        assert window_state(window, {"collection": T0}, at(48)).state is State.AT_RISK

    def test_share_of_the_limit_used_is_capped(self):
        assert window_state(TO_RECEIPT, {"collection": T0}, at(12)).used == 0.25
        assert window_state(TO_RECEIPT, {"collection": T0}, at(100)).used == 1.0
        assert window_state(TO_RECEIPT, {}, at(1)).used == 0.0


class TestUrgency:
    WINDOWS = [TO_RECEIPT, Window("receipt", "cryo_in", 24, 2)]

    def key(self, reached, now):
        return urgency(window_states(self.WINDOWS, reached, now))

    def test_missed_first_then_open_windows_by_remaining_then_the_rest(self):
        now = at(100)
        missed_long_ago = self.key({"collection": at(0)}, now)  # 52 h over
        missed_late_end = self.key({"collection": at(40), "receipt": at(89)}, now)  # ended 1 h late, cryo open
        at_risk = self.key({"collection": at(57)}, now)  # 5 h left
        running = self.key({"collection": at(90)}, now)  # 38 h left
        nothing_open = self.key({"ordered": at(0)}, now)
        assert sorted([running, nothing_open, at_risk, missed_late_end, missed_long_ago]) == [
            missed_long_ago, missed_late_end, at_risk, running, nothing_open]
        assert missed_long_ago == (0, -52 * 3600)
        assert at_risk == (1, 5 * 3600)

    def test_the_smallest_remaining_of_several_open_windows_counts(self):
        windows = [TO_RECEIPT, Window("collection", "infusion", 24 * 30, 24)]
        assert urgency(window_states(windows, {"collection": T0}, at(10))) == (1, 38 * 3600)

    def test_next_deadline_is_the_open_window_ending_first_overrun_included(self):
        windows = [Window("collection", "infusion", 24 * 30), TO_RECEIPT]
        states = window_states(windows, {"collection": T0}, at(60))
        assert next_deadline(states).window is TO_RECEIPT  # overrun, still the first to end
        assert next_deadline(window_states(windows, {}, at(60))) is None

    def test_flag_is_missed_over_at_risk_over_nothing(self):
        def states(now, reached):
            return window_states(TestUrgency.WINDOWS, reached, now)
        assert flag(states(at(43), {"collection": T0})) is State.AT_RISK
        assert flag(states(at(49), {"collection": T0})) is State.MISSED
        assert flag(states(at(10), {"collection": T0})) is None
        assert flag(states(at(70), {"collection": T0, "receipt": at(50), "cryo_in": at(51)})) is State.MISSED


class TestVeinToVein:
    def test_none_before_collection(self):
        assert vein_to_vein({"ordered": T0}, at(5)) is None

    def test_so_far_while_in_flight_and_the_total_once_infused(self):
        assert vein_to_vein({"collection": T0}, at(30)) == 30 * H
        assert vein_to_vein({"collection": T0, "infusion": at(24 * 21)}, at(24 * 40)) == dt.timedelta(days=21)

    def test_elapsed_marks_since_collection_and_since_the_previous_moment(self):
        marks = elapsed_marks([at(-5), at(0), at(3), at(3)], T0)
        assert marks == [(-5 * H, None), (dt.timedelta(0), 5 * H), (3 * H, 3 * H), (3 * H, dt.timedelta(0))]
        assert elapsed_marks([at(1), at(2)], None) == [(None, None), (None, H)]

    @pytest.mark.parametrize(("span", "text"), [
        (None, "—"), (dt.timedelta(minutes=45), "45 min"), (dt.timedelta(hours=2, minutes=5), "2 h 05 min"),
        (dt.timedelta(days=2, hours=3, minutes=7), "2 d 3 h 07 min"), (-dt.timedelta(hours=1, minutes=10), "−1 h 10 min"),
    ])
    def test_duration_text(self, span, text):
        assert duration_text(span) == text
