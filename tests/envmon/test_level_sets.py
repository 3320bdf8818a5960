"""The site's alert and action levels: proposed by hand or computed from history, never looser
than Annex 1, reviewed and approved by two other people with signatures, in force on approval
(superseding the set of the same scope), and read by `limits_in_force` (a room's own set wins)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import Signature
from opencdmo.envmon import selectors, services
from opencdmo.envmon.models import LevelSet
from tests.factories import signature

from . import builders


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    return fake_clock


@pytest.fixture
def people(make_user):
    return {"author": make_user("em.author", Role.QC_REVIEWER), "reviewer": make_user("qa.reviewer", Role.QA_SPECIALIST),
            "approver": make_user("qa.approver", Role.QA_APPROVER), "operator": make_user("op.one", Role.OPERATOR)}


def manual(author, *, grade="B", sample_type="active_air", alert="5", action="8", room=None, state="in_operation"):
    return services.propose_levels(author, grade=grade, room=room, sample_type=sample_type, state=state,
                                   method="manual", alert=alert, action=action, rationale="From the PQ data.")


def approved(people, level_set):
    services.transition_level_set(people["reviewer"], level_set, "review",
                                  signature=signature(people["reviewer"], "Reviewed"))
    return services.transition_level_set(people["approver"], level_set, "approve",
                                         signature=signature(people["approver"], "Approved"))


def history(room, user, values, *, sample_type="settle_plate", days_ago=200):
    location = builders.locations(room, user, 1, sample_types=(sample_type,))[0]
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC) - dt.timedelta(days=days_ago)
    return builders.samples(location, user, values, sample_type=sample_type, start=start)


@pytest.mark.req("A1-3")
@pytest.mark.req("A1-5")
@pytest.mark.parametrize(("grade", "alert", "action", "words"), [
    ("B", "5", "11", "above the Annex 1 maximum of 10"),
    ("B", "8", "8", "must be below the action level"),
    ("A", "0", "1", "no growth"),
])
def test_hand_set_levels_looser_than_annex_1_or_alert_not_below_action_are_refused(people, grade, alert, action,
                                                                                   words):
    with pytest.raises(RuleViolation, match=words):
        manual(people["author"], grade=grade, alert=alert, action=action)
    assert not LevelSet.objects.exists()


@pytest.mark.req("A1-5")
def test_a_hand_set_draft_records_the_scope_and_is_changed_only_while_draft(people):
    level_set = manual(people["author"])
    assert (level_set.status, level_set.alert_level, level_set.action_level) == ("draft", 5, 8)
    services.update_level_set(people["author"], level_set, action_level="9", rationale="Tighter after the PQ.")
    with pytest.raises(RuleViolation, match="Annex 1 maximum of 10"):
        services.update_level_set(people["author"], level_set, action_level="12")
    level_set.refresh_from_db()
    assert level_set.action_level == 9
    approved(people, level_set)
    with pytest.raises(Conflict, match="only a draft"):
        services.update_level_set(people["author"], level_set, rationale="later")


@pytest.mark.req("A1-5")
def test_levels_computed_from_a_dirty_history_are_capped_at_annex_1(people):
    room = builders.room("EM-C01", grade="C")
    history(room, people["author"], [10, 20, 30, 40, 60, 70, 80, 90, 95, 99] * 3)
    preview = selectors.preview_levels(grade="C", sample_type="settle_plate", state="in_operation",
                                       method="percentile")
    assert preview.computed.capped and preview.computed.action == 50 and preview.computed.n == 30
    assert not LevelSet.objects.exists()  # a preview writes nothing
    level_set = services.propose_levels(people["author"], grade="C", room=room, sample_type="settle_plate",
                                        state="in_operation", method="percentile", rationale="Trend review 2026.")
    assert level_set.action_level == 50 and level_set.alert_level < 50
    assert level_set.history_count == 30 and level_set.parameters["capped"] is True
    assert "Annex 1 maximum" in level_set.rationale
    assert level_set.history_to == dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)


@pytest.mark.req("A1-5")
def test_computed_levels_use_only_the_history_window_and_need_enough_results(people):
    room = builders.room("EM-C02", grade="C")
    history(room, people["author"], [2, 3, 4, 5] * 5, days_ago=500)  # older than the default 12 months
    with pytest.raises(RuleViolation, match="at least 20 historical results; there are 0"):
        services.propose_levels(people["author"], grade="C", sample_type="settle_plate", state="in_operation",
                                method="mean_k_sigma", rationale="x")
    level_set = services.propose_levels(people["author"], grade="C", sample_type="settle_plate",
                                        state="in_operation", method="mean_k_sigma", history_from="2024-01-01",
                                        history_to="2025-12-31", rationale="Two years of history.")
    assert level_set.history_count == 20 and level_set.parameters["alert_k"] == "2"
    assert level_set.alert_level < level_set.action_level <= 50


@pytest.mark.req("P11-1")
def test_review_and_approval_are_signed_by_two_other_people(people, make_user):
    level_set = manual(people["author"])
    with pytest.raises(RuleViolation, match="you created"):
        services.transition_level_set(people["author"], level_set, "review",
                                      signature=signature(people["author"], "Reviewed"))
    with pytest.raises(RuleViolation, match="only a record that is Reviewed"):
        services.transition_level_set(people["approver"], level_set, "approve",
                                      signature=signature(people["approver"], "Approved"))
    reviewer = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER)
    services.transition_level_set(reviewer, level_set, "review", signature=signature(reviewer, "Reviewed"))
    with pytest.raises(RuleViolation, match="reviewer is not approver"):
        services.transition_level_set(reviewer, level_set, "approve", signature=signature(reviewer, "Approved"))
    with pytest.raises(PermissionDenied):
        services.transition_level_set(people["author"], level_set, "approve",
                                      signature=signature(people["author"], "Approved"))
    assert LevelSet.objects.get(pk=level_set.pk).status == "reviewed"
    services.transition_level_set(people["approver"], level_set, "approve",
                                  signature=signature(people["approver"], "Approved"))
    level_set.refresh_from_db()
    assert level_set.status == "approved" and level_set.effective_at is not None
    assert sorted(Signature.objects.filter(record_id=str(level_set.pk), record_type="envmon.levelset")
                  .values_list("meaning", flat=True)) == ["Approved", "Reviewed"]


@pytest.mark.req("A1-5")
def test_approval_supersedes_the_set_in_force_and_a_rooms_own_set_wins(people):
    room = builders.room("EM-B09", grade="B")
    first = approved(people, manual(people["author"], alert="5", action="9"))
    assert selectors.limits_in_force(room, "active_air", "in_operation").level_set == first
    second = approved(people, manual(people["author"], alert="4", action="7"))
    first.refresh_from_db()
    assert first.status == "superseded" and second.status == "approved"
    assert selectors.limits_in_force(room, "active_air", "in_operation").action == 7
    own = approved(people, manual(people["author"], alert="2", action="3", room=room))
    in_force = selectors.limits_in_force(room, "active_air", "in_operation")
    assert in_force.level_set == own and in_force.judge(Decimal(4)).level == "action"
    second.refresh_from_db()
    assert second.status == "approved"  # the grade's set still applies to the other rooms
    other = builders.room("EM-B10", grade="B")
    assert selectors.limits_in_force(other, "active_air", "in_operation").level_set == second
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_level_set(people["approver"], own, "retire")
    services.transition_level_set(people["approver"], own, "retire", reason="Room rebuilt.")
    assert selectors.limits_in_force(room, "active_air", "in_operation").level_set == second


@pytest.mark.parametrize(("fields", "words"), [
    ({"alert": "NaN"}, "finite"),
    ({"alert": "-1"}, "negative"),
    ({"alert": "five"}, "is a number"),
    ({"action": "1e30"}, "at most"),
    ({"alert": "4.5"}, "whole number"),
    ({"grade": "U"}, "Choose the grade"),
    ({"sample_type": "swab"}, "Choose the sample type"),
    ({"room": "NOPE"}, "No room"),
    ({"room": "EM-C05"}, "is grade C, not B"),
])
def test_bad_input_is_refused_with_what_to_do_and_nothing_is_saved(people, fields, words):
    builders.room("EM-C05", grade="C")
    with pytest.raises((RuleViolation, NotFound), match=words):
        manual(people["author"], **fields)
    assert not LevelSet.objects.exists()


def test_only_the_programme_managers_propose_levels(people):
    with pytest.raises(PermissionDenied, match="envmon.manage_programme"):
        manual(people["operator"])
    with pytest.raises(PermissionDenied, match="envmon.manage_programme"):
        manual(people["approver"])
    assert not LevelSet.objects.exists()


@pytest.mark.req("A1-2")
def test_approval_rechecks_the_levels_against_the_annex_1_edition_in_force(people, settings):
    level_set = manual(people["author"], grade="A", sample_type="particles_5", alert="20", action="25")
    services.transition_level_set(people["reviewer"], level_set, "review",
                                  signature=signature(people["reviewer"], "Reviewed"))
    settings.EM_ANNEX1_EDITION = "2008"  # ≥5 µm in grade A: 20/m³ instead of 29/m³
    with pytest.raises(RuleViolation, match="above the Annex 1 maximum of 20"):
        services.transition_level_set(people["approver"], level_set, "approve",
                                      signature=signature(people["approver"], "Approved"))
    level_set.refresh_from_db()
    assert level_set.status == "reviewed" and level_set.effective_at is None
