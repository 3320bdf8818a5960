"""Reads of materials, lots, inventory and genealogy, scoped to the user's sponsors."""

import datetime as dt
from dataclasses import dataclass
from decimal import Context, Decimal
from functools import lru_cache
from typing import NamedTuple

from django.db import connection
from django.db.models import DecimalField, Exists, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import audit, clock, registry
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.models import Attachment
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task

from .models import GenealogyLink, InventoryLocation, InventoryTransaction, Lot, LotBalance, Material, Supplier
from .workflows import EXPIRED, STATUS_LABELS, lot_workflow


def node_of(record) -> str:
    """The genealogy key of any record: 'materials.lot:42', 'batches.batch:7' …"""
    return f"{audit.record_type(record)}:{record.pk}"


class Edge(NamedTuple):
    """One link of a trace (a named tuple: a wide trace builds thousands of them)."""

    parent: str
    child: str
    parent_label: str
    child_label: str
    quantity: Decimal | None
    unit: str


@dataclass(frozen=True)
class Trace:
    start: str
    direction: str  # "forward" (where it went) or "backward" (what it was made from)
    edges: list[Edge]

    @property
    def nodes(self) -> set[str]:
        return {e.child for e in self.edges} | {e.parent for e in self.edges}

    def depth_of(self) -> dict[str, int]:
        """How many links each node is from the start (shortest path), for drawing in layers."""
        step = {e.parent: [] for e in self.edges}
        back = {e.child: [] for e in self.edges}
        for e in self.edges:
            step[e.parent].append(e.child)
            back[e.child].append(e.parent)
        nexts = step if self.direction == "forward" else back
        depth, frontier = {self.start: 0}, [self.start]
        while frontier:
            following = []
            for node in frontier:
                for n in nexts.get(node, ()):
                    if n not in depth:
                        depth[n] = depth[node] + 1
                        following.append(n)
            frontier = following
        return depth


def _node_type() -> str:
    """The column type of a node key: PostgreSQL wants the start of a recursive query typed alike."""
    return GenealogyLink._meta.get_field("parent").db_type(connection)


def _visible_sponsor_clause(user) -> tuple[str, list]:
    """The links a user may see, as scoping.scoped() decides for records (P11-1d)."""
    if user is None:  # system use: the whole graph
        return "", []
    if not user.is_authenticated or not user.is_active:
        return " AND 1 = 0", []
    ids = list(user.sponsor_ids())
    marks = ", ".join(["%s"] * len(ids)) or "NULL"
    clause = f"g.sponsor_id IN ({marks})"
    if user.has_permission("core.view_cdmo_records"):
        clause = f"({clause} OR g.sponsor_id IS NULL)"
    return f" AND {clause}", ids


_QUANTITY_SCALE = Decimal(1).scaleb(-GenealogyLink._meta.get_field("quantity").decimal_places)


@lru_cache(maxsize=4096)
def _decimal(value: float) -> Decimal:
    """SQLite hands a decimal column back as int or float: the Decimal the ORM would read."""
    return Context(prec=15).create_decimal_from_float(float(value)).quantize(_QUANTITY_SCALE)


def trace(user, start: str, *, direction: str = "forward") -> Trace:
    """Every link reachable from `start`, following parent → child (forward) or back.

    One recursive query on either database; links of sponsors the user may not see are
    neither shown nor followed. The recursion collects each reached node once (UNION, not
    UNION ALL: a node reached along many paths is expanded once); the links leaving the
    reached nodes are then read through the (parent, child) / (child, parent) indexes. On
    PostgreSQL that last step is `= ANY(ARRAY(…))`: the planner cannot estimate how many nodes
    a recursion reaches, and with `IN (…)` it may hash-join the whole links table for a trace
    of ten links (bench/genealogy.py measures both traces at ten years' scale).
    """
    if direction not in ("forward", "backward"):
        raise ValueError(direction)
    table = connection.ops.quote_name(GenealogyLink._meta.db_table)
    near, far = ("parent", "child") if direction == "forward" else ("child", "parent")
    visible, params = _visible_sponsor_clause(user)
    reached = (
        f"g.{near} = ANY(ARRAY(SELECT node FROM reach))" if connection.vendor == "postgresql"
        else f"g.{near} IN (SELECT node FROM reach)"
    )
    sql = (
        f"WITH RECURSIVE reach(node) AS ("
        f" SELECT CAST(%s AS {_node_type()})"
        f" UNION SELECT g.{far} FROM {table} g JOIN reach r ON g.{near} = r.node WHERE 1 = 1{visible}"
        f") SELECT g.parent, g.child, g.parent_label, g.child_label, g.quantity, g.unit"
        f" FROM {table} g WHERE {reached}{visible}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, *params, *params])
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        edges = list(map(Edge._make, rows))
    else:
        edges = [Edge(p, c, pl, cl, q if q is None else _decimal(q), u) for p, c, pl, cl, q, u in rows]
    return Trace(start=start, direction=direction, edges=edges)


def reaches(parent: str, child: str) -> bool:
    """Whether `child` is `parent` or already downstream of it, over every sponsor's links
    (used to refuse cycles at write time). Reads node keys only and stops at the first hit."""
    if parent == child:
        return True
    table = connection.ops.quote_name(GenealogyLink._meta.db_table)
    sql = (
        f"WITH RECURSIVE reach(node) AS ("
        f" SELECT CAST(%s AS {_node_type()})"
        f" UNION SELECT g.child FROM {table} g JOIN reach r ON g.parent = r.node"
        f") SELECT 1 FROM reach WHERE node = %s LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [parent, child])
        return cursor.fetchone() is not None


# ---------------------------------------------------------------------------------------------
# Materials, lots and inventory (everything above this line is genealogy).



def quantity_text(value) -> str:
    """A stored quantity as people write it: 1500, 0.25, never 1.5E+3 or 1500.000000."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


# Master data ---------------------------------------------------------------------------------

def materials_for(user, *, category: str = "", sponsor: str = "", text: str = "", active_only: bool = False):
    queryset = scoped(Material, user).select_related("sponsor").prefetch_related("approved_suppliers")
    if category:
        queryset = queryset.filter(category=category)
    if sponsor == "cdmo":
        queryset = queryset.filter(sponsor__isnull=True)
    elif sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if text:
        queryset = queryset.filter(Q(code__icontains=text) | Q(name__icontains=text))
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset


def material(user, code: str) -> Material:
    return get_scoped(Material.objects.select_related("sponsor"), user, code=str(code).strip())


def suppliers(user, *, approved_only: bool = False):
    queryset = scoped(Supplier, user).select_related("sponsor")
    return queryset.filter(is_approved=True) if approved_only else queryset


def supplier(user, code: str) -> Supplier:
    found = scoped(Supplier, user).filter(code__iexact=str(code).strip()).first()
    if found is None:
        raise NotFound(f"There is no supplier '{str(code)[:40]}'.")
    return found


def supplied_materials(user, supplier: Supplier):
    """The materials a supplier is approved for, as far as this user may see them."""
    return scoped(Material, user).filter(approved_suppliers=supplier)


def locations():
    return InventoryLocation.objects.all()


def location(code: str) -> InventoryLocation:
    found = InventoryLocation.objects.filter(code__iexact=str(code).strip()).first()
    if found is None:
        raise NotFound(f"There is no inventory location '{code}'.")
    return found


# Lot status: expired is derived, never stored -------------------------------------------------

def site_date(at: dt.datetime) -> dt.date:
    """The calendar date at the site (OPENCDMO_TIME_ZONE) at the instant `at`."""
    return timezone.localtime(at).date()


def expiry_reason(lot: Lot, at: dt.datetime | None = None) -> str | None:
    """Why the lot is expired at `at`, or None. A lot may be used through its expiry (or retest)
    date and is expired from the first instant of the next day at the site."""
    today = site_date(at or clock.now())
    if lot.expiry_date is not None and today > lot.expiry_date:
        return f"it expired on {lot.expiry_date:%Y-%m-%d}"
    if lot.retest_date is not None and today > lot.retest_date:
        return f"its retest date {lot.retest_date:%Y-%m-%d} has passed"
    return None


def lot_status(lot: Lot, at: dt.datetime | None = None) -> str:
    """The stored status, or 'expired' once past the expiry or retest date, whatever is stored."""
    return EXPIRED if expiry_reason(lot, at) is not None else lot.status


def lot_status_label(lot: Lot, at: dt.datetime | None = None) -> str:
    return STATUS_LABELS[lot_status(lot, at)]


_NOT_USABLE = {
    "quarantine": "{lot} is in quarantine: QA has not released it",
    "rejected": "{lot} was rejected by QA",
    "on_hold": "{lot} is on hold",
    "depleted": "{lot} is depleted",
}


def lot_usability(lot: Lot, at: dt.datetime | None = None) -> tuple[bool, list[str]]:
    """(usable, reasons): only a released lot within its expiry and retest dates may be used."""
    reasons = []
    if lot.status in _NOT_USABLE:
        reasons.append(_NOT_USABLE[lot.status].format(lot=lot))
    if (why := expiry_reason(lot, at)) is not None:
        reasons.append(f"{lot} cannot be used: {why}")
    return not reasons, reasons


def _expired_q(today: dt.date) -> Q:
    return Q(expiry_date__lt=today) | Q(retest_date__lt=today)


def _expiring_q(today: dt.date, days: int) -> Q:
    until = today + dt.timedelta(days=days)
    return ~_expired_q(today) & (Q(expiry_date__lte=until) | Q(retest_date__lte=until))


def has_certificate(lot: Lot) -> bool:
    return Attachment.objects.filter(record_type=audit.record_type(lot), record_id=str(lot.pk)).exists()


# Lots and their stock ------------------------------------------------------------------------

MAX_EXPIRY_WINDOW_DAYS = 3650
LOT_STATUS_FILTERS = STATUS_LABELS


def _with_totals(queryset):
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=6))
    return queryset.annotate(total=Coalesce(Sum("balances__quantity"), zero))


def lots_for(user, *, material: str = "", status: str = "", location: str = "", expiring_within: int | None = None,
             text: str = "", at: dt.datetime | None = None):
    """Lots this user may see, each with `total` (its stock over all locations), filtered."""
    today = site_date(at or clock.now())
    queryset = scoped(Lot, user).select_related("material", "supplier", "sponsor", "created_by")
    if material:
        queryset = queryset.filter(material__code=material)
    if status == EXPIRED:
        queryset = queryset.filter(_expired_q(today))
    elif status in lot_workflow.states:
        queryset = queryset.filter(status=status).exclude(_expired_q(today))
    elif status:
        raise RuleViolation(f"'{status}' is not a lot status.")
    if location:
        queryset = queryset.filter(Exists(LotBalance.objects.filter(
            lot=OuterRef("pk"), location__code=location, quantity__gt=0)))
    if expiring_within is not None:
        if not 0 <= expiring_within <= MAX_EXPIRY_WINDOW_DAYS:
            raise RuleViolation(f"Expiring within: give a number of days from 0 to {MAX_EXPIRY_WINDOW_DAYS}.")
        queryset = queryset.filter(_expiring_q(today, expiring_within))
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(supplier_lot__icontains=text)
                                   | Q(material__name__icontains=text) | Q(material__code__icontains=text))
    return _with_totals(queryset).order_by("-created_at", "-pk")


def lot(user, number: str) -> Lot:
    return get_scoped(Lot.objects.select_related("material", "supplier", "sponsor", "created_by"), user,
                      number=str(number).strip())


def find_lot(user, scanned: str) -> Lot:
    """The lot a scanned or typed number names (any case, surrounding spaces ignored)."""
    text = str(scanned).strip()
    if not text:
        raise RuleViolation("Scan or type a lot number.")
    found = scoped(Lot, user).filter(number__iexact=text).first()
    if found is None:
        raise NotFound(f"No lot {text[:40]} is known to you.")
    return found


def lot_total(lot: Lot) -> Decimal:
    total = LotBalance.objects.filter(lot=lot).aggregate(total=Sum("quantity"))["total"]
    return total if total is not None else Decimal(0)


def lot_balances(lot: Lot):
    return LotBalance.objects.filter(lot=lot, quantity__gt=0).select_related("location").order_by("location__code")


def lot_transactions(lot: Lot):
    return (InventoryTransaction.objects.filter(lot=lot)
            .select_related("location", "other_location", "performed_by").order_by("-performed_at", "-id"))


@dataclass(frozen=True)
class Outstanding:
    """What was issued to one record and not returned yet."""

    for_type: str
    for_id: str
    for_label: str
    quantity: Decimal

    @property
    def key(self) -> str:
        return f"{self.for_type}|{self.for_id}|{self.for_label}"


def outstanding_issues(lot: Lot) -> list[Outstanding]:
    rows = (InventoryTransaction.objects.filter(lot=lot, kind__in=["issue", "return"])
            .values("for_type", "for_id", "for_label").annotate(net=Sum("quantity")).order_by("for_label"))
    return [Outstanding(r["for_type"], r["for_id"], r["for_label"], -r["net"]) for r in rows if r["net"] < 0]


def issued_to(lot: Lot, for_type: str, for_id: str, for_label: str) -> Decimal:
    """How much of the lot went to that record and has not come back."""
    rows = InventoryTransaction.objects.filter(lot=lot, kind__in=["issue", "return"], for_type=for_type)
    rows = rows.filter(for_id=for_id) if for_type != "external" else rows.filter(for_label=for_label)
    net = rows.aggregate(net=Sum("quantity"))["net"]
    return -net if net is not None and net < 0 else Decimal(0)


def lots_due_to_expire(user, *, days: int = 30, at: dt.datetime | None = None):
    """Lots with stock whose expiry or retest date falls within `days`, and expired lots still in stock."""
    today = site_date(at or clock.now())
    until = today + dt.timedelta(days=days)
    queryset = scoped(Lot, user).exclude(status__in=["rejected", "depleted"]).filter(
        Q(expiry_date__lte=until) | Q(retest_date__lte=until))
    return [lot for lot in _with_totals(queryset).select_related("material").order_by("expiry_date", "number")
            if lot.total > 0]


def lot_page_actions(user, lot: Lot) -> list[tuple[str, str]]:
    """The stock movements this user may record for this lot: (kind, label)."""
    usable, _ = lot_usability(lot)
    has_stock = lot_total(lot) > 0
    actions = []
    if usable and has_stock and user.has_permission("materials.issue"):
        actions.append(("issue", "Issue"))
    if user.has_permission("materials.issue") and outstanding_issues(lot):
        actions.append(("return", "Return"))
    if has_stock and user.has_permission("materials.receive"):
        actions.append(("sample", "Sample"))
    if has_stock and user.has_permission("materials.transfer"):
        actions.append(("transfer", "Transfer"))
    if user.has_permission("materials.adjust"):
        actions.append(("adjust", "Adjust count"))
        if has_stock:
            actions.append(("destroy", "Destroy"))
    return actions


def disposition_blockers(user, lot: Lot) -> list[str]:
    """Why QA cannot release the lot now (shown next to the actions), beyond its status."""
    if lot.status != "quarantine" or not user.has_permission("materials.disposition"):
        return []
    why = lot_workflow.refusal(lot, "release", user)
    return [why] if why else []


# My tasks ------------------------------------------------------------------------------------

def disposition_task_list(user) -> list[Task]:
    """QA: lots in quarantine that wait for release or rejection."""
    if not user.has_permission("materials.disposition"):
        return []
    waiting = scoped(Lot, user).filter(status="quarantine").select_related("material", "created_by")
    return [
        Task(
            title="Release or reject",
            record=f"{lot.number} {lot.material.name}",
            url=reverse("materials:lot", args=[lot.number]),
            status=lot_status(lot),
            status_label=lot_status_label(lot),
            detail=" · ".join(filter(None, [
                f"received {site_date(lot.received_at or lot.created_at):%Y-%m-%d} by {lot.created_by.full_name}",
                expiry_reason(lot), None if has_certificate(lot) else "no certificate of analysis yet",
            ])),
        )
        for lot in waiting.order_by("created_at")
    ]


def expiry_task_list(user) -> list[Task]:
    """Material handlers: lots in stock that expire within 30 days, and expired lots still in stock."""
    if not user.has_permission("materials.receive"):
        return []
    now = clock.now()
    tasks = []
    for lot in lots_due_to_expire(user, days=30, at=now):
        why = expiry_reason(lot, now)
        date = min(d for d in (lot.expiry_date, lot.retest_date) if d is not None)
        days = (date - site_date(now)).days
        tasks.append(Task(
            title="Expired: take out of use" if why else f"Expires in {days} day{'s' if days != 1 else ''}",
            record=f"{lot.number} {lot.material.name}",
            url=reverse("materials:lot", args=[lot.number]),
            status=lot_status(lot, now),
            status_label=lot_status_label(lot, now),
            detail=f"{quantity_text(lot.total)} {lot.unit} in stock · {why or f'expiry/retest {date:%Y-%m-%d}'}",
        ))
    return tasks


# Recall: where a lot went, and what it was made from -------------------------------------------

@dataclass(frozen=True)
class Node:
    key: str
    record_type: str
    label: str
    kind_label: str
    url: str
    depth: int


def _describe(user, key: str, label: str, depth: int) -> Node:
    record_type, _, pk = key.rpartition(":")
    kind = registry.kind(record_type)
    url = ""
    if kind is not None and kind.url_name:
        found = scoped(kind.model, user).filter(pk=pk).first() if pk.isdigit() else None
        if found is not None:
            url = reverse(kind.url_name, args=[getattr(found, kind.lookup)])
    return Node(key, record_type, label, kind.label if kind else record_type, url, depth)


@dataclass(frozen=True)
class Recall:
    lot: Lot
    backward: Trace
    forward: Trace
    upstream: list[Node]  # what the lot was made from
    downstream: list[Node]  # every record the lot went into: the records a recall affects


def _nodes(user, found: Trace) -> list[Node]:
    depths = found.depth_of()
    labels = {}
    for e in found.edges:
        labels[e.parent], labels[e.child] = e.parent_label, e.child_label
    return sorted((_describe(user, key, labels.get(key, key), depths.get(key, 0)) for key in found.nodes
                   if key != found.start), key=lambda n: (n.depth, n.label))


def recall(user, lot: Lot) -> Recall:
    require_to_see(user, "materials.view_genealogy")
    start = node_of(lot)
    backward, forward = trace(user, start, direction="backward"), trace(user, start, direction="forward")
    return Recall(lot, backward, forward, _nodes(user, backward), _nodes(user, forward))


def trace_rows(found: Trace) -> list[dict]:
    """The links of a trace as rows (CSV and JSON exports), nearest first."""
    depths = found.depth_of()
    near = (lambda e: e.parent) if found.direction == "forward" else (lambda e: e.child)
    rows = [{
        "direction": found.direction, "depth": depths.get(near(e), 0) + 1,
        "parent": e.parent, "parent_label": e.parent_label, "child": e.child, "child_label": e.child_label,
        "quantity": quantity_text(e.quantity) if e.quantity is not None else "", "unit": e.unit,
    } for e in found.edges]
    return sorted(rows, key=lambda r: (r["depth"], r["parent"], r["child"]))
