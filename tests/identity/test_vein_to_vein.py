"""Vein to vein: a product's labelling settings and custody windows (identity.configure, changes
with a reason, audited), a therapy's timeline (every custody event, refusals with their deviation,
elapsed times, window states) and the in-flight board (most urgent first, flags, filters), all
scoped to the user's sponsors."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.identity import selectors, services
from opencdmo.identity.domain.vein_to_vein import State, duration_text
from opencdmo.identity.models import CustodyEvent, CustodyWindow, ProductIdentity, TherapyOrder
from opencdmo.sponsors.models import Product

from . import builders

pytestmark = pytest.mark.django_db

LABELLING = {"collection_pdc": "S1001", "final_pdc": "S1295", "collection_type": "1",
             "storage": "Store at ≤ −150 °C", "shelf_life_days": 180}


@pytest.fixture
def product(sponsor_a):
    return builders.autologous_product(sponsor_a)


@pytest.fixture
def configurer(sponsor_a):
    return builders.planner(sponsor_a)


class TestProductIdentity:
    @pytest.mark.req("ISBT-5")
    def test_set_once_then_changed_only_with_a_reason_each_time_audited(self, configurer, product):
        settings = services.set_product_identity(configurer, product, **LABELLING)
        assert (settings.collection_pdc, settings.final_pdc, settings.version) == ("S1001", "S1295", 1)
        with pytest.raises(RuleViolation, match="reason"):
            services.set_product_identity(configurer, product, **{**LABELLING, "shelf_life_days": 90})
        assert services.set_product_identity(configurer, product, **LABELLING).version == 1  # nothing changed
        changed = services.set_product_identity(configurer, product, **{**LABELLING, "shelf_life_days": 90},
                                                reason="New stability data")
        assert (changed.shelf_life_days, changed.version) == (90, 2)
        assert ProductIdentity.objects.get(product=product).shelf_life_days == 90
        audit = AuditEvent.objects.filter(record_type="identity.productidentity").order_by("id")
        assert [e.action for e in audit] == ["create", "update"]
        assert audit.last().reason == "New stability data"

    @pytest.mark.req("ISBT-5")
    @pytest.mark.parametrize(("field", "value"), [("collection_pdc", "s10"), ("final_pdc", "11234"),
                                                  ("collection_type", "")])
    def test_product_description_codes_are_checked(self, configurer, product, field, value):
        with pytest.raises(RuleViolation):
            services.set_product_identity(configurer, product, **{**LABELLING, field: value})
        assert not ProductIdentity.objects.exists()

    def test_shelf_life_is_at_least_a_day(self, configurer, product):
        with pytest.raises(RuleViolation, match="shelf life"):
            services.set_product_identity(configurer, product, **{**LABELLING, "shelf_life_days": 0})

    def test_needs_identity_configure(self, make_user, sponsor_a, product):
        operator = make_user("op.configure", Role.OPERATOR, sponsors=[sponsor_a])
        with pytest.raises(PermissionDenied, match="identity.configure"):
            services.set_product_identity(operator, product, **LABELLING)
        with pytest.raises(PermissionDenied):
            services.set_window(operator, product, start="collection", end="receipt", limit_hours=48)

    def test_another_sponsors_product_does_not_exist(self, sponsor_a, sponsor_b, product):
        other = builders.planner(sponsor_b)
        with pytest.raises(NotFound):
            services.set_product_identity(other, product, **LABELLING)
        with pytest.raises(NotFound):
            services.set_window(other, product, start="collection", end="receipt", limit_hours=48)


class TestWindows:
    def test_one_window_per_pair_changed_with_a_reason(self, configurer, product):
        window = services.set_window(configurer, product, start="collection", end="receipt", limit_hours=48,
                                     warn_hours=6)
        with pytest.raises(RuleViolation, match="reason"):
            services.set_window(configurer, product, start="collection", end="receipt", limit_hours=72)
        changed = services.set_window(configurer, product, start="collection", end="receipt", limit_hours=72,
                                      warn_hours=12, reason="Validated 72 h transport")
        assert changed.pk == window.pk and (changed.limit_hours, changed.warn_hours, changed.version) == (72, 12, 2)
        assert CustodyWindow.objects.count() == 1
        assert AuditEvent.objects.filter(record_type="identity.custodywindow", action="update",
                                         reason="Validated 72 h transport").exists()

    @pytest.mark.parametrize(("start", "end", "limit", "warn", "message"), [
        ("receipt", "collection", 48, 0, "before"),
        ("receipt", "receipt", 48, 0, "before"),
        ("collection", "nowhere", 48, 0, "milestones"),
        ("collection", "receipt", 0, 0, "at least 1"),
        ("collection", "receipt", 48, 48, "shorter than the limit"),
        ("collection", "receipt", "many", 0, "whole number"),
        ("collection", "receipt", 10**9, 0, "at most"),
    ])
    def test_refused(self, configurer, product, start, end, limit, warn, message):
        with pytest.raises(RuleViolation, match=message):
            services.set_window(configurer, product, start=start, end=end, limit_hours=limit, warn_hours=warn)
        assert not CustodyWindow.objects.exists()


def _therapy(sponsor):
    enrolling = builders.planner(sponsor)
    return builders.order(enrolling, builders.patient(enrolling, sponsor))


class TestTimeline:
    @pytest.mark.req("ISBT-6")
    def test_events_in_time_order_with_refusals_elapsed_times_and_windows(self, sponsor_a, product, fake_clock,
                                                                          make_user):
        builders.windows(product, ("collection", "receipt", 48, 6), ("receipt", "cryo_in", 24, 4))
        order = _therapy(sponsor_a)
        handler = make_user("handler", Role.MATERIAL_HANDLER, sponsors=[sponsor_a])
        builders.reach(order, ("collection", 2), ("courier_pickup", 3), clock=fake_clock, by=handler)
        fake_clock.advance(hours=40)
        refused = builders.refused_scan(handler, order)
        builders.reach(order, ("receipt", 1), clock=fake_clock, by=handler)
        fake_clock.advance(hours=10)

        found = selectors.timeline(handler, order.number)
        assert [(e.kind, e.event.result if e.event else None) for e in found.entries] == [
            ("ordered", None), ("collection", "verified"), ("courier_pickup", "verified"),
            ("receipt", "refused"), ("receipt", "verified")]
        refusal = found.entries[3]
        assert refusal.refused and not refusal.reaches_milestone and refusal.event.pk == refused.pk
        assert refusal.event.deviation is not None and refusal.event.problem
        assert [e.reaches_milestone for e in found.entries] == [True, True, True, False, True]
        assert [duration_text(e.since_collection) for e in found.entries] == ["−2 h 00 min", "0 min", "3 h 00 min",
                                                                    "1 d 19 h 00 min",
                                                                    "1 d 20 h 00 min"]
        assert found.entries[4].elapsed == "1 d 20 h 00 min since collection · 1 h 00 min since the previous entry"
        assert found.entries[0].elapsed == "2 h 00 min before collection"  # ordered before the collection
        assert found.entries[1].handoff == f"By {handler} at Test site: Sender → Receiver"
        assert found.vein_to_vein_text == "2 d 6 h 00 min" and not found.infused
        receipt, cryo = found.windows
        assert receipt.state is State.MET and receipt.elapsed_text == "1 d 20 h 00 min"
        assert cryo.state is State.RUNNING and cryo.remaining_text == "14 h 00 min"

    def test_another_sponsors_therapy_does_not_exist(self, sponsor_a, sponsor_b, make_user):
        order = _therapy(sponsor_a)
        outsider = make_user("b.viewer", Role.OPERATOR, sponsors=[sponsor_b])
        with pytest.raises(NotFound):
            selectors.timeline(outsider, order.number)


class TestBoard:
    @pytest.fixture
    def world(self, sponsor_a, product, fake_clock):
        """Five therapies of sponsor A, with windows collection → receipt 48 h (warn 6 h) and
        receipt → cryo-in 24 h (warn 4 h), seen 100 h after the first collection."""
        builders.windows(product, ("collection", "receipt", 48, 6), ("receipt", "cryo_in", 24, 4))
        orders = {name: _therapy(sponsor_a) for name in ("missed", "at_risk", "running", "waiting", "infused")}
        start = fake_clock()

        def at(name, *steps, hour):
            fake_clock.set(start)
            builders.reach(orders[name], ("collection", hour), *steps, clock=fake_clock)

        at("missed", ("receipt", 50), hour=0)  # receipt 2 h late; cryo-in still in time
        at("at_risk", hour=58)  # 42 h into 48: 6 h left
        at("running", hour=90)  # 10 h in: 38 h left
        at("infused", ("receipt", 10), ("cryo_in", 5), ("infusion", 20), hour=1)
        fake_clock.set(start + dt.timedelta(hours=100))
        return orders

    def test_most_urgent_first_with_flags(self, world, configurer):
        rows = selectors.board(configurer)
        numbers = {order.number: name for name, order in world.items()}
        assert [numbers[r.number] for r in rows] == ["missed", "at_risk", "running", "waiting"]
        assert [r.flag for r in rows] == [State.MISSED, State.AT_RISK, None, None]
        missed, at_risk, running, waiting = rows
        assert missed.stage == "receipt" and missed.next_window.window.end == "cryo_in"
        assert at_risk.next_window.remaining_text == "6 h 00 min"
        assert running.days_since_collection == pytest.approx(10 / 24)
        assert waiting.since_collection is None and waiting.next_window is None and waiting.stage == "ordered"

    def test_at_risk_only_and_filters(self, world, configurer, sponsor_a):
        names = {order.number: name for name, order in world.items()}
        assert [names[r.number] for r in selectors.board(configurer, at_risk_only=True)] == ["missed", "at_risk"]
        assert len(selectors.board(configurer, sponsor=sponsor_a.code)) == 4
        assert selectors.board(configurer, sponsor="BETA") == []
        assert selectors.board(configurer, product="NOPE") == []

    def test_cancelled_therapies_leave_the_board(self, world, configurer):
        services.transition_order(configurer, world["waiting"], "cancel", reason="Patient withdrew consent")
        assert world["waiting"].number not in {r.number for r in selectors.board(configurer)}

    def test_reads_orders_and_milestones_never_the_custody_events(self, world, configurer):
        assert CustodyEvent.objects.exists()
        with CaptureQueriesContext(connection) as queries:
            selectors.board(configurer)
        assert not [q for q in queries.captured_queries if CustodyEvent._meta.db_table in q["sql"]]

    def test_another_sponsors_therapies_are_absent(self, world, sponsor_b, make_user):
        builders.order_for_sponsor(None, sponsor_b, "board")
        outsider = make_user("b.board", Role.OPERATOR, sponsors=[sponsor_b])
        rows = selectors.board(outsider)
        assert rows and not {r.number for r in rows} & {o.number for o in world.values()}
        assert all(TherapyOrder.objects.get(number=r.number).patient.sponsor == sponsor_b for r in rows)


class TestOnlyPatientSpecificProducts:
    def test_a_product_not_made_for_one_patient_has_nothing_to_configure(self, sponsor_b):
        vector = Product.objects.get(code="BVB-201")
        configurer = builders.planner(sponsor_b)
        with pytest.raises(RuleViolation, match="not an autologous product"):
            services.set_product_identity(configurer, vector, **LABELLING)
        with pytest.raises(RuleViolation, match="not an autologous product"):
            services.set_window(configurer, vector, start="collection", end="receipt", limit_hours=48)
