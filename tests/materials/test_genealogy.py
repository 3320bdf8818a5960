"""Lot genealogy: a trace forward and a trace backward are mirror images and equal the transitive
closure of the links; a link that would close a cycle is refused at write time; a user's trace
shows and follows only the links of the sponsors they may see (DESIGN.md "Materials")."""

import threading
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from opencdmo.core import clock, context
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import AuditEvent, User
from opencdmo.materials.drawing import trace_svg
from opencdmo.materials.models import GenealogyLink, Lot, Material
from opencdmo.materials.selectors import Edge, Trace, node_of, reaches, trace
from opencdmo.materials.services import link_genealogy
from opencdmo.sponsors.models import Product, Program

SVG = "{http://www.w3.org/2000/svg}"


# Records to link: lots (the CDMO's or a sponsor's) and, as the batch-like record of another
# type, sponsors' products. Any registered model will do: a node is only 'app.model:id'.

@pytest.fixture
def medium(db):
    return Material.objects.create(code="RM-0001", name="T-cell expansion medium", category="raw_material",
                                   storage="refrigerated", unit="mL")


def make_lot(actor, material, number: str, sponsor=None) -> Lot:
    now = clock.now()
    return Lot.objects.create(number=number, status="released", version=1, created_at=now, modified_at=now,
                              created_by=actor, material=material, sponsor=sponsor,
                              quantity_received=Decimal("500"), unit="mL")


def make_product(sponsor, code: str) -> Product:
    return Product.objects.create(program=Program.objects.get(sponsor=sponsor), code=code,
                                  name=f"Batch-like record {code}", modality="autologous_cell", phase="phase_2")


@pytest.fixture
def people(make_user, sponsor_a, sponsor_b):
    """Who traces: CDMO staff with both sponsors, staff with sponsor A only, A's and B's viewers."""
    return {
        "staff_ab": make_user("qa.both", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b]),
        "staff_a": make_user("qa.acme", Role.QA_SPECIALIST, sponsors=[sponsor_a]),
        "viewer_a": make_user("acme.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a]),
        "viewer_b": make_user("beta.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_b]),
    }


def closure(links, start, direction: str) -> set:
    """Every node reachable from `start` along `links` ((parent, child) pairs), computed plainly."""
    step = {}
    for parent, child in links:
        near, far = (parent, child) if direction == "forward" else (child, parent)
        step.setdefault(near, []).append(far)
    seen, todo = set(), [start]
    while todo:
        for n in step.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def reached(found: Trace) -> set:
    return found.nodes - {found.start}


def counts() -> tuple[int, int]:
    return GenealogyLink.objects.count(), AuditEvent.objects.count()


# ---------------------------------------------------------------------------------------------
# The property: random consumption graphs, links inserted in random order.

@st.composite
def genealogies(draw):
    """Nodes (record type, owner) and link attempts (parent index, child index), in the order
    they are attempted: a consumption graph along one random order of the nodes (each record
    made from one to three earlier ones), mixed with arbitrary attempts that may close a cycle,
    link a record into itself or repeat a link."""
    size = draw(st.integers(min_value=2, max_value=9))
    nodes = draw(st.lists(st.tuples(st.sampled_from(["lot", "product"]), st.sampled_from(["A", "B", None])),
                          min_size=size, max_size=size))
    order = draw(st.permutations(range(size)))
    made_from = [(order[c - 1 - back], order[c]) for c in range(1, size)  # mostly from the one just before
                 for back in draw(st.sets(st.integers(min_value=0, max_value=c - 1), min_size=1, max_size=3))]
    index = st.integers(min_value=0, max_value=size - 1)
    arbitrary = draw(st.lists(st.tuples(index, index), max_size=size))
    attempts = draw(st.permutations(made_from + arbitrary))
    return nodes, attempts


@pytest.mark.req("P11-1d")
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(genealogy=genealogies())
def test_traces_are_mirror_images_equal_to_the_closure_and_cycles_are_refused(
        genealogy, people, medium, sponsor_a, sponsor_b):
    nodes, attempts = genealogy
    sponsors = {"A": sponsor_a, "B": sponsor_b, None: None}
    actor = people["staff_ab"]
    with transaction.atomic():  # each example rolls back: the next one starts from no links
        records = [
            make_product(sponsors[owner], f"P-{i}") if kind == "product" and owner is not None
            else make_lot(actor, medium, f"LOT-T-{i:03d}", sponsors[owner])
            for i, (kind, owner) in enumerate(nodes)
        ]
        keys = [node_of(r) for r in records]
        assert len(set(keys)) == len(keys)  # lot 1 and product 1 are different nodes
        owner = {keys[i]: sponsors[o].pk if o else None for i, (_, o) in enumerate(nodes)}
        written = []  # (parent, child, sponsor of the link)
        for p, c in attempts:
            parent, child = keys[p], keys[c]
            if child == parent or parent in closure([(a, b) for a, b, _ in written], child, "forward"):
                before = counts()
                with pytest.raises(RuleViolation, match="cycle"):
                    link_genealogy(actor, records[p], records[c])
                assert counts() == before  # refused at write time, nothing written
                assert reaches(child, parent)
            else:
                assert not reaches(child, parent)
                link = link_genealogy(actor, records[p], records[c], quantity=Decimal("2.5"), unit="mL")
                expected_sponsor = owner[child] if owner[child] is not None else owner[parent]
                assert link.sponsor_id == expected_sponsor
                written.append((parent, child, expected_sponsor))

        refused = len(attempts) - len(written)
        event(f"links refused as cycles: {'none' if not refused else '1-2' if refused < 3 else '3+'}")
        event(f"layers of the deepest trace: {1 + max(max(trace(actor, k).depth_of().values()) for k in keys)}")
        for user in people.values():
            ids = set(user.sponsor_ids())
            staff = user.has_permission("core.view_cdmo_records")
            visible = [(a, b) for a, b, s in written if s in ids or (s is None and staff)]
            forward = {k: trace(user, k, direction="forward") for k in keys}
            backward = {k: trace(user, k, direction="backward") for k in keys}
            for k in keys:
                for found, direction in ((forward[k], "forward"), (backward[k], "backward")):
                    expected = closure(visible, k, direction)
                    assert k not in expected  # no cycles, so nothing reaches itself
                    assert reached(found) == expected
                    near = {k} | expected
                    on_path = [(a, b) for a, b in visible if (a if direction == "forward" else b) in near]
                    assert Counter((e.parent, e.child) for e in found.edges) == Counter(on_path)
                    assert all(isinstance(e.quantity, Decimal) and e.quantity == Decimal("2.5") for e in found.edges)
                    depth = found.depth_of()
                    assert depth[k] == 0 and found.nodes <= depth.keys()
            for x in keys:
                for y in keys:
                    assert (y in reached(forward[x])) == (x in reached(backward[y]))
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------------
# Cycles are refused at write time, with a message a user can act on.

def test_a_record_linked_into_itself_is_refused_and_nothing_is_written(people, medium):
    actor = people["staff_ab"]
    lot = make_lot(actor, medium, "LOT-2026-0001")
    before = counts()
    with pytest.raises(RuleViolation, match=r"LOT-2026-0001 cannot be linked into itself"):
        link_genealogy(actor, lot, lot)
    assert counts() == before


def test_a_link_that_would_close_a_cycle_is_refused_even_through_another_sponsors_links(
        people, medium, sponsor_a, sponsor_b):
    """A's user cannot see B's link in the middle of the path, but the cycle check sees every link."""
    actor, acme = people["staff_ab"], people["staff_a"]
    a1 = make_lot(actor, medium, "LOT-A-1", sponsor_a)
    b1 = make_lot(actor, medium, "LOT-B-1", sponsor_b)
    a2 = make_lot(actor, medium, "LOT-A-2", sponsor_a)
    with transaction.atomic():
        link_genealogy(actor, a1, b1)  # B's link (the child is B's)
        link_genealogy(actor, b1, a2)  # A's link
    assert reached(trace(acme, node_of(a1))) == set()  # hidden from A's user, not followed
    before = counts()
    with pytest.raises(RuleViolation) as refused:
        link_genealogy(acme, a2, a1)
    assert str(refused.value) == ("LOT-A-1 is already upstream of LOT-A-2: linking LOT-A-2 into LOT-A-1 "
                                  "would make a cycle in the genealogy.")
    assert counts() == before


def test_a_refused_link_leaves_the_callers_transaction_usable(people, medium):
    actor = people["staff_ab"]
    first, second = make_lot(actor, medium, "LOT-1"), make_lot(actor, medium, "LOT-2")
    with transaction.atomic():
        link_genealogy(actor, first, second)
        with pytest.raises(RuleViolation):
            link_genealogy(actor, second, first)
        third = make_lot(actor, medium, "LOT-3")
        link_genealogy(actor, second, third)
    assert reached(trace(actor, node_of(first))) == {node_of(second), node_of(third)}


@pytest.mark.postgres(reason="SQLite has one writer at a time: two links cannot be checked concurrently")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_links_cannot_close_a_cycle_between_them(people, medium):
    """A → B and B → A, each in its own open transaction: the second waits for the first, then
    sees its link and is refused. Without the lock both checks would pass and both links commit."""
    actor = people["staff_ab"]
    a, b = make_lot(actor, medium, "LOT-A"), make_lot(actor, medium, "LOT-B")
    first_linked, let_first_commit = threading.Event(), threading.Event()
    outcome = {}

    def run(name, parent, child, hold=False):
        try:
            with context.action(client_address="10.40.0.1"), transaction.atomic():
                link_genealogy(User.objects.get(pk=actor.pk), parent, child)
                if hold:
                    first_linked.set()
                    assert let_first_commit.wait(timeout=30)
            outcome[name] = "linked"
        except RuleViolation as refused:
            outcome[name] = str(refused)
        except BaseException as exc:  # reported by the main thread
            outcome[name] = exc
            first_linked.set()
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first", a, b, True))
    first.start()
    assert first_linked.wait(timeout=30)
    second = threading.Thread(target=run, args=("second", b, a))
    second.start()
    waiting = False
    for _ in range(3000):  # until the second writer waits for the lock (or gives up after ~30 s)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            waiting = cursor.fetchone()[0] == 1
        if waiting or not second.is_alive():
            break
        threading.Event().wait(0.01)
    let_first_commit.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert waiting, f"the second link did not wait for the first: {outcome}"
    assert outcome["first"] == "linked"
    assert "would make a cycle" in outcome["second"]
    assert list(GenealogyLink.objects.values_list("parent", "child")) == [(node_of(a), node_of(b))]


# ---------------------------------------------------------------------------------------------
# Sponsor segregation (P11-1d): a trace shows and follows only what the user may see.

@pytest.fixture
def shared_reagent_graph(people, medium, sponsor_a, sponsor_b):
    """The CDMO's reagent lot went into a lot for A and a lot for B; each of those into the
    sponsor's next lot; and into another CDMO lot (a CDMO-wide link)."""
    actor = people["staff_ab"]
    g = {
        "reagent": make_lot(actor, medium, "LOT-CDMO-1"),
        "buffer": make_lot(actor, medium, "LOT-CDMO-2"),
        "a1": make_lot(actor, medium, "LOT-A-1", sponsor_a),
        "a2": make_lot(actor, medium, "LOT-A-2", sponsor_a),
        "b1": make_lot(actor, medium, "LOT-B-1", sponsor_b),
        "b2": make_lot(actor, medium, "LOT-B-2", sponsor_b),
    }
    with transaction.atomic():
        for parent, child in (("reagent", "a1"), ("a1", "a2"), ("reagent", "b1"), ("b1", "b2"),
                              ("reagent", "buffer"), ("buffer", "a2")):
            link_genealogy(actor, g[parent], g[child])
    return {name: node_of(record) for name, record in g.items()}


@pytest.mark.req("P11-1d")
def test_a_sponsor_a_users_trace_never_includes_sponsor_b_links(people, shared_reagent_graph, sponsor_b):
    g = shared_reagent_graph
    b_nodes = {g["b1"], g["b2"]}
    b_links = set(GenealogyLink.objects.filter(sponsor_id=sponsor_b.pk).values_list("parent", "child"))
    assert b_links == {(g["reagent"], g["b1"]), (g["b1"], g["b2"])}
    for who in ("staff_a", "viewer_a"):
        user = people[who]
        for start in g.values():
            for direction in ("forward", "backward"):
                found = trace(user, start, direction=direction)
                assert not {(e.parent, e.child) for e in found.edges} & b_links, (who, start, direction)
                assert not found.nodes & b_nodes
    assert reached(trace(people["staff_a"], g["reagent"])) == {g["a1"], g["a2"], g["buffer"]}
    assert reached(trace(people["viewer_b"], g["reagent"])) == b_nodes
    assert reached(trace(people["staff_ab"], g["reagent"])) == set(g.values()) - {g["reagent"]}


@pytest.mark.req("P11-1d")
def test_cdmo_wide_links_are_visible_to_staff_and_not_to_sponsor_viewers(people, shared_reagent_graph):
    g = shared_reagent_graph
    cdmo_link = (g["reagent"], g["buffer"])
    assert GenealogyLink.objects.get(parent=cdmo_link[0], child=cdmo_link[1]).sponsor_id is None

    def links(user, start, direction="forward"):
        return {(e.parent, e.child) for e in trace(user, start, direction=direction).edges}

    assert cdmo_link in links(people["staff_a"], g["reagent"])
    assert cdmo_link in links(people["staff_a"], g["buffer"], "backward")
    assert cdmo_link not in links(people["viewer_a"], g["reagent"])
    assert cdmo_link not in links(people["viewer_a"], g["buffer"], "backward")
    # The viewer still sees their own sponsor's links out of the CDMO's lots: what went into
    # their lots, the CDMO's buffer included, but not what that buffer was made from.
    assert links(people["viewer_a"], g["reagent"]) == {(g["reagent"], g["a1"]), (g["a1"], g["a2"])}
    theirs = {(g["reagent"], g["a1"]), (g["a1"], g["a2"]), (g["buffer"], g["a2"])}
    assert links(people["viewer_a"], g["a2"], "backward") == theirs
    assert links(people["staff_a"], g["a2"], "backward") == theirs | {cdmo_link}


@pytest.mark.req("P11-1d")
def test_a_deactivated_user_traces_nothing(people, shared_reagent_graph):
    user = people["staff_ab"]
    user.is_active = False
    assert trace(user, shared_reagent_graph["reagent"]).edges == []


# ---------------------------------------------------------------------------------------------
# Drawing a trace (materials/drawing.py): SVG text, one layer per link from the start.

def parsed(svg: str) -> tuple[ET.Element, list[str]]:
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    return root, texts


def test_a_trace_draws_as_svg_with_its_node_labels(people, shared_reagent_graph):
    found = trace(people["staff_ab"], shared_reagent_graph["reagent"])
    svg = trace_svg(found)
    root, texts = parsed(svg)
    assert root.tag == f"{SVG}svg"
    for label in ("LOT-CDMO-1", "LOT-CDMO-2", "LOT-A-1", "LOT-A-2", "LOT-B-1", "LOT-B-2"):
        assert label in texts
    assert "Lot" in texts  # the legend names the record type


def test_a_trace_without_links_draws_its_start():
    svg = trace_svg(Trace(start="materials.lot:7", direction="backward", edges=[]))
    _, texts = parsed(svg)
    assert "materials.lot:7" in texts


def test_a_wide_trace_shows_a_readable_part_of_each_layer_and_counts_the_rest():
    start = "materials.lot:1"
    edges = [Edge(start, f"batches.batch:{n}", "RM-2019-000001", f"B-2019-{n:05d}", Decimal("1.000000"), "mL")
             for n in range(1, 2001)]
    edges += [Edge(f"batches.batch:{n}", f"materials.lot:{10_000 + n}", f"B-2019-{n:05d}", f"DS-2019-{n:06d}",
                   None, "") for n in range(1, 2001)]
    svg = trace_svg(Trace(start=start, direction="forward", edges=edges))
    _, texts = parsed(svg)
    assert "RM-2019-000001" in texts
    more = [t for t in texts if t.startswith("+") and t.endswith("more")]
    assert len(more) == 2 and all(int(t.split()[0][1:].replace(",", "")) > 1900 for t in more)
    assert len([t for t in texts if t.startswith("B-2019-")]) < 100
    assert len(svg) < 1_000_000
