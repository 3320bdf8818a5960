"""Reads of materials, lots, inventory and genealogy, scoped to the user's sponsors."""

from dataclasses import dataclass

from django.db import connection

from opencdmo.core import audit

from .models import GenealogyLink


def node_of(record) -> str:
    """The genealogy key of any record: 'materials.lot:42', 'batches.batch:7' …"""
    return f"{audit.record_type(record)}:{record.pk}"


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    parent_label: str
    child_label: str
    quantity: object
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


def _visible_sponsor_clause(user) -> tuple[str, list]:
    if user is None:  # system use (cycle checks): the whole graph
        return "", []
    ids = list(user.sponsor_ids())
    marks = ", ".join(["%s"] * len(ids)) or "NULL"
    clause = f"g.sponsor_id IN ({marks})"
    if user.has_permission("core.view_cdmo_records"):
        clause = f"({clause} OR g.sponsor_id IS NULL)"
    return f" AND {clause}", ids


def trace(user, start: str, *, direction: str = "forward") -> Trace:
    """Every link reachable from `start`, following parent → child (forward) or back.

    One recursive query on either database; links of sponsors the user may not see are
    neither shown nor followed.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(direction)
    table = connection.ops.quote_name(GenealogyLink._meta.db_table)
    near, far = ("parent", "child") if direction == "forward" else ("child", "parent")
    visible, params = _visible_sponsor_clause(user)
    sql = (
        f"WITH RECURSIVE reach(node) AS ("
        f" SELECT %s"
        f" UNION SELECT g.{far} FROM {table} g JOIN reach r ON g.{near} = r.node WHERE 1=1{visible}"
        f") SELECT g.parent, g.child, g.parent_label, g.child_label, g.quantity, g.unit"
        f" FROM {table} g WHERE g.{near} IN (SELECT node FROM reach){visible}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, *params, *params])
        edges = [Edge(*row) for row in cursor.fetchall()]
    return Trace(start=start, direction=direction, edges=edges)


def reaches(parent: str, child: str) -> bool:
    """Whether `child` is already downstream of `parent` (used to refuse cycles at write time)."""
    return parent == child or child in trace(None, parent).nodes
