"""Accounts: lockout, password policy, user IDs never reused, every access change audited."""

import datetime as dt
import itertools
import json

import pytest
from django.contrib.auth import authenticate
from django.db.models import ProtectedError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencdmo.core import security, services
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, User
from opencdmo.core.signatures import authenticate_signer
from opencdmo.sponsors import services as sponsor_services
from tests.conftest import PASSWORD
from tests.factories import signature, submitted_agreement

WRONG = "correct horse battery stapel"


def user_events(user, *actions):
    events = AuditEvent.objects.filter(record_type="core.user", record_id=str(user.pk)).order_by("id")
    return list(events.filter(action__in=actions) if actions else events)


def changes(event) -> dict:
    return json.loads(event.changes)


def fail_login(username: str, password: str = WRONG) -> str:
    with pytest.raises(PermissionDenied) as refused:
        security.check_credentials(username, password)
    return refused.value.message


@pytest.fixture
def operator(make_user, sponsor_a):
    return make_user("op.weber", Role.OPERATOR, sponsors=[sponsor_a])


# ----------------------------------------------------------------------------------- lockout


@pytest.mark.req("P11-7")
def test_account_locks_after_five_failed_logins_within_fifteen_minutes(operator, fake_clock):
    for minutes in (0, 3, 3, 3):
        fake_clock.advance(minutes=minutes)
        assert fail_login("op.weber") != security.LOCKED_MESSAGE
    operator.refresh_from_db()
    assert (operator.failed_logins, operator.is_locked) == (4, False)
    fake_clock.advance(minutes=5)  # the fifth failure, 14 minutes after the first
    assert fail_login("op.weber") == security.LOCKED_MESSAGE
    operator.refresh_from_db()
    assert operator.locked_at == fake_clock.current


@pytest.mark.req("P11-7")
def test_a_security_alert_is_written_when_an_account_locks(operator, fake_clock):
    for _ in range(5):
        fail_login("op.weber")
        fake_clock.advance(seconds=20)
    assert len(user_events(operator, "failed_login")) == 5
    [alert] = user_events(operator, "security_alert")
    assert changes(alert) == {"locked_at": [None, "2026-03-02T08:31:20.000000Z"]}
    assert "account locked: 5 failed attempts within 15 minutes" in alert.reason
    assert alert.client_address == "127.0.0.1"


@pytest.mark.req("P11-7")
def test_five_failures_spread_over_more_than_fifteen_minutes_do_not_lock(operator, fake_clock):
    for _ in range(8):  # one every 4 minutes: never five within 15 minutes
        fail_login("op.weber")
        fake_clock.advance(minutes=4)
    operator.refresh_from_db()
    assert not operator.is_locked
    assert user_events(operator, "security_alert") == []


@pytest.mark.req("P11-7")
def test_five_failures_exactly_fifteen_minutes_apart_lock(operator, fake_clock):
    for minute in (0, 5, 10, 12, 15):
        fake_clock.set(dt.datetime(2026, 3, 2, 9, minute, tzinfo=dt.UTC))
        fail_login("op.weber")
    operator.refresh_from_db()
    assert operator.is_locked


@pytest.mark.req("P11-7")
def test_five_failures_within_fifteen_minutes_lock_although_an_older_failure_started_the_count(
        operator, fake_clock):
    """A burst of guesses straddling the end of a window is still five within 15 minutes."""
    start = fake_clock.current
    for seconds in (0, 14 * 60, 14 * 60 + 30, 15 * 60 + 30, 16 * 60, 16 * 60 + 30):
        fake_clock.set(start + dt.timedelta(seconds=seconds))
        fail_login("op.weber")
    operator.refresh_from_db()
    assert operator.is_locked, "five failures between 14:00 and 16:30 must lock the account"


_usernames = itertools.count()


@pytest.mark.req("P11-7")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.integers(0, 8 * 60), min_size=1, max_size=9))
def test_an_account_locks_exactly_when_five_failures_fall_within_fifteen_minutes(make_user, fake_clock, gaps):
    user = make_user(f"op.prop{next(_usernames)}", Role.OPERATOR)
    moment, times, expected_lock = fake_clock.current, [], False
    for gap in gaps:
        moment += dt.timedelta(seconds=gap)
        fake_clock.set(moment)
        times.append(moment)
        fail_login(user.username)
        expected_lock = expected_lock or (len(times) >= 5 and times[-1] - times[-5] <= dt.timedelta(minutes=15))
        user.refresh_from_db()
        assert user.is_locked == expected_lock, [str(t - times[0]) for t in times]


@pytest.mark.req("P11-7")
@pytest.mark.req("P11-1d")
def test_a_locked_account_cannot_log_in_even_with_the_right_password(operator, fake_clock):
    for _ in range(5):
        fail_login("op.weber")
    assert fail_login("op.weber", PASSWORD) == security.LOCKED_MESSAGE
    assert authenticate(None, username="op.weber", password=PASSWORD) is None
    # An attempt on a locked account is itself recorded.
    assert len(user_events(operator, "failed_login")) == 6


@pytest.mark.req("P11-6")
@pytest.mark.req("P11-7")
def test_a_locked_account_cannot_sign_even_with_the_right_password(operator, fake_clock):
    """The signer is re-read from the database: a page opened before the lock cannot sign."""
    for _ in range(5):
        fail_login("op.weber")
    assert not operator.is_locked  # the object the session loaded before the lock
    with pytest.raises(PermissionDenied, match="locked"):
        authenticate_signer(operator, signature(operator, "Performed"), first_in_session=True)


@pytest.mark.req("P11-6")
def test_a_deactivated_account_cannot_sign(operator, admin_user):
    services.deactivate_user(admin_user, operator, reason="left the company")
    with pytest.raises(PermissionDenied):
        authenticate_signer(operator, signature(operator, "Performed"), first_in_session=True)


@pytest.mark.req("P11-7")
@pytest.mark.req("A11-11")
def test_unlocking_needs_a_user_administrator_and_a_reason(operator, admin_user, qa_author, fake_clock):
    for _ in range(5):
        fail_login("op.weber")
    with pytest.raises(PermissionDenied):
        services.unlock_user(qa_author, operator, reason="I know him")
    with pytest.raises(RuleViolation, match="reason"):
        services.unlock_user(admin_user, operator, reason="  ")
    fake_clock.advance(minutes=10)
    services.unlock_user(admin_user, operator, reason="identity confirmed by phone, ticket 5521")
    operator.refresh_from_db()
    assert (operator.is_locked, operator.failed_logins) == (False, 0)
    [unlock] = user_events(operator, "unlock")
    assert changes(unlock) == {"locked_at": ["2026-03-02T08:30:00+00:00", None]}
    assert (unlock.actor_id, unlock.reason) == (admin_user.pk, "identity confirmed by phone, ticket 5521")
    assert security.check_credentials("op.weber", PASSWORD) == operator


@pytest.mark.req("P11-7")
def test_failures_before_an_unlock_do_not_count_afterwards(operator, admin_user, fake_clock):
    for _ in range(5):
        fake_clock.advance(minutes=1)
        fail_login("op.weber")
    fake_clock.advance(minutes=1)
    services.unlock_user(admin_user, operator, reason="identity confirmed in person")
    fake_clock.advance(minutes=1)
    fail_login("op.weber")
    operator.refresh_from_db()
    assert (operator.is_locked, operator.failed_logins) == (False, 1)


@pytest.mark.req("P11-7")
def test_a_successful_login_starts_the_count_again(operator, fake_clock):
    for _ in range(4):
        fake_clock.advance(minutes=1)
        fail_login("op.weber")
    fake_clock.advance(minutes=1)
    security.record_login(security.check_credentials("op.weber", PASSWORD))
    for _ in range(4):
        fake_clock.advance(minutes=1)
        fail_login("op.weber")
    operator.refresh_from_db()
    assert (operator.is_locked, operator.failed_logins) == (False, 4)
    assert len(user_events(operator, "login")) == 1


@pytest.mark.req("P11-7")
@pytest.mark.req("DI-3")
def test_a_failed_login_never_tells_whether_the_user_id_exists(operator, fake_clock):
    assert fail_login("op.weber") == fail_login("op.nobody") == fail_login("OP.WEBER", "")
    unknown = AuditEvent.objects.get(action="failed_login", actor_name="op.nobody")
    assert (unknown.actor_id, unknown.reason) == (None, "failed login: unknown user ID")


# -------------------------------------------------------------------------------- passwords


@pytest.mark.req("P11-7")
def test_passwords_shorter_than_twelve_characters_are_refused(admin_user):
    with pytest.raises(RuleViolation, match="at least 12 characters"):
        services.create_user(admin_user, username="qc.short", full_name="Kim Short", password="Tx7#mQ2$vL9")
    assert not User.objects.filter(username="qc.short").exists()
    user = services.create_user(admin_user, username="qc.long", full_name="Kim Long", password="Tx7#mQ2$vL9!")
    assert user.check_password("Tx7#mQ2$vL9!")


@pytest.mark.req("P11-6")
def test_passwords_are_kept_only_as_argon2_hashes(operator):
    stored = User.objects.get(pk=operator.pk).password
    assert stored.startswith("argon2$argon2id$") and PASSWORD not in stored


@pytest.mark.req("P11-7")
def test_a_password_change_needs_the_current_password_and_follows_the_policy(operator):
    with pytest.raises(PermissionDenied):
        services.change_password(operator, current_password=WRONG, new_password="a brand new passphrase")
    with pytest.raises(RuleViolation, match="at least 12 characters"):
        services.change_password(operator, current_password=PASSWORD, new_password="Tx7#mQ2$vL9")
    services.change_password(operator, current_password=PASSWORD, new_password="a brand new passphrase")
    operator.refresh_from_db()
    assert operator.check_password("a brand new passphrase")
    [event] = user_events(operator, "password_change")
    assert "argon2" not in event.changes and "passphrase" not in event.changes


# ------------------------------------------------------------------ user IDs and deactivation


@pytest.mark.req("P11-5")
@pytest.mark.req("P11-7")
@pytest.mark.parametrize("username", ["op.weber", "OP.WEBER", "Op.Weber", " op.weber "])
def test_a_user_id_is_never_given_to_anyone_else(operator, admin_user, username):
    with pytest.raises(Conflict, match="never reused"):
        services.create_user(admin_user, username=username, full_name="Otto Weber", password=PASSWORD)
    assert User.objects.filter(username__iexact="op.weber").count() == 1


@pytest.mark.req("P11-5")
def test_a_deactivated_user_keeps_the_user_id_and_cannot_log_in(operator, admin_user, fake_clock):
    services.deactivate_user(admin_user, operator, reason="left the company")
    operator.refresh_from_db()
    assert (operator.is_active, operator.deactivated_at) == (False, fake_clock.current)
    with pytest.raises(Conflict):
        services.create_user(admin_user, username="op.weber", full_name="Olaf Weber", password=PASSWORD)
    fail_login("op.weber", PASSWORD)
    assert authenticate(None, username="op.weber", password=PASSWORD) is None
    [event] = user_events(operator, "deactivate")
    assert changes(event) == {"is_active": [True, False], "deactivated_at": [None, "2026-03-02T08:30:00+00:00"]}
    assert event.reason == "left the company"


@pytest.mark.req("P11-5")
def test_nobody_deactivates_their_own_account(admin_user):
    with pytest.raises(RuleViolation, match="own account"):
        services.deactivate_user(admin_user, admin_user, reason="testing")


@pytest.mark.req("P11-5")
def test_a_user_id_never_changes(operator, admin_user):
    with pytest.raises(RuleViolation, match="user IDs never change"):
        services.update_user(admin_user, operator, username="op.weber2", reason="typo")


@pytest.mark.req("P11-5")
@pytest.mark.req("P11-4")
def test_the_account_of_someone_who_signed_cannot_be_deleted(qa_author, sponsor_a):
    submitted_agreement(qa_author, sponsor_a)
    with pytest.raises(ProtectedError):
        User.objects.get(pk=qa_author.pk).delete()


# ---------------------------------------------------------- every access change is audited


@pytest.mark.req("A11-11")
@pytest.mark.req("DI-4")
def test_creating_a_user_is_audited_with_roles_and_sponsors_but_never_the_password(admin_user, sponsor_a):
    user = services.create_user(admin_user, username="qc.lind", full_name="Maja Lind", password=PASSWORD,
                                roles=["qc_analyst"], sponsor_ids=[sponsor_a.pk], reason="new QC analyst")
    create, role, sponsors = user_events(user)
    assert (create.action, create.actor_id, create.actor_name) == ("create", admin_user.pk, "Sys Admin")
    assert changes(create)["username"] == [None, "qc.lind"]
    assert changes(create)["full_name"] == [None, "Maja Lind"]
    assert "password" not in changes(create) and "argon2" not in create.changes
    assert (role.action, changes(role)) == ("permission_change", {"roles": [None, "qc_analyst"]})
    assert (sponsors.action, changes(sponsors)) == ("permission_change", {"sponsors": [[], [sponsor_a.pk]]})
    assert {create.reason, role.reason, sponsors.reason} == {"new QC analyst"}


@pytest.mark.req("A11-11")
@pytest.mark.req("DI-4")
def test_changing_a_user_is_audited_old_to_new_with_a_reason(operator, admin_user):
    with pytest.raises(RuleViolation, match="reason"):
        services.update_user(admin_user, operator, full_name="Oskar Weber", reason=" ")
    services.update_user(admin_user, operator, full_name="Oskar Weber", email="o.weber@cdmo.example",
                         reason="name corrected, HR ticket 77")
    [event] = user_events(operator, "update")
    assert changes(event) == {"full_name": ["Op Weber", "Oskar Weber"], "email": ["", "o.weber@cdmo.example"]}
    assert event.reason == "name corrected, HR ticket 77"


@pytest.mark.req("A11-11")
@pytest.mark.req("P11-1g")
def test_granting_and_revoking_roles_is_audited_and_needs_a_user_administrator(operator, admin_user, qa_author):
    with pytest.raises(PermissionDenied):
        services.grant_role(qa_author, operator, "qa_approver")
    services.grant_role(admin_user, operator, "supervisor", reason="promoted to shift lead")
    assert operator.has_permission("sponsors.view") and operator.role_codes == ["operator", "supervisor"]
    with pytest.raises(RuleViolation, match="reason"):
        services.revoke_role(admin_user, operator, "supervisor", reason="")
    services.revoke_role(admin_user, operator, "supervisor", reason="back to operator")
    assert operator.role_codes == ["operator"]
    grant, revoke = user_events(operator, "permission_change")[-2:]
    assert changes(grant) == {"roles": [None, "supervisor"]}
    assert (changes(revoke), revoke.reason) == ({"roles": ["supervisor", None]}, "back to operator")


@pytest.mark.req("A11-11")
def test_changing_sponsor_access_is_audited_old_to_new(operator, admin_user, sponsor_a, sponsor_b):
    services.set_sponsor_access(admin_user, operator, [sponsor_a.pk, sponsor_b.pk], reason="covers Beta too")
    assert sorted(operator.sponsor_ids()) == sorted([sponsor_a.pk, sponsor_b.pk])
    event = user_events(operator, "permission_change")[-1]
    assert changes(event) == {"sponsors": [[sponsor_a.pk], sorted([sponsor_a.pk, sponsor_b.pk])]}
    assert event.reason == "covers Beta too"


@pytest.mark.req("A11-11")
def test_the_sponsor_access_a_sponsor_creator_receives_is_audited(qa_author, sponsor_a):
    new = sponsor_services.create_sponsor(qa_author, code="GAMA", name="Gamma Allogeneic")
    assert new.pk in qa_author.sponsor_ids()
    event = user_events(qa_author, "permission_change")[-1]
    assert changes(event) == {"sponsors": [[sponsor_a.pk], sorted([sponsor_a.pk, new.pk])]}
    assert event.actor_id == qa_author.pk and "GAMA" in event.reason


# Passwords chosen by an administrator (P11-7b: issuance of passwords is controlled).

@pytest.mark.req("P11-7")
def test_a_user_created_by_an_administrator_must_change_the_initial_password(admin_user, client):
    person = services.create_user(admin_user, username="new.starter", full_name="New Starter", password=PASSWORD,
                                  roles=[Role.OPERATOR])
    assert person.must_change_password
    client.force_login(person)
    assert client.get("/audit-trail/")["Location"] == "/profile/"
    response = client.post("/profile/", {"action": "password", "current_password": PASSWORD,
                                         "new_password": "a fresh passphrase 2026"})
    assert response.status_code == 200
    person.refresh_from_db()
    assert not person.must_change_password
    assert client.get("/audit-trail/").status_code == 200


@pytest.mark.req("P11-7")
def test_an_administrator_resets_a_password_only_with_a_reason_and_it_is_audited(admin_user, make_user):
    person = make_user("op.forgetful", Role.OPERATOR)
    with pytest.raises(RuleViolation):
        services.reset_password(admin_user, person, new_password="temporary passphrase 1", reason=" ")
    services.reset_password(admin_user, person, new_password="temporary passphrase 1", reason="identity checked")
    person.refresh_from_db()
    assert person.must_change_password and person.check_password("temporary passphrase 1")
    event = user_events(person, "password_reset")[-1]
    assert event.reason == "identity checked" and changes(event)["must_change_password"] == [False, True]


@pytest.mark.req("P11-5")
def test_the_database_refuses_a_user_id_that_differs_only_in_case(make_user):
    from django.db import IntegrityError, transaction

    make_user("qc.analyst", Role.QC_ANALYST)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="QC.Analyst", full_name="Someone Else")


@pytest.mark.req("P11-7")
def test_failures_on_an_already_locked_account_are_recorded_as_such(make_user):
    person = make_user("op.target", Role.OPERATOR)
    for _ in range(5):
        fail_login("op.target")
    fail_login("op.target")
    assert user_events(person, "failed_login")[-1].reason == "failed login on a locked account"
