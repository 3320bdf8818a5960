"""Benchmark: lot genealogy traces on ten years of a busy CDMO (DESIGN.md "Benchmarks", "Materials").

Targets (per database)
  1. trace backward from a final product lot (everything it was made from, six levels):
     p95 < 200 ms;
  2. trace forward from the raw-material lot used in 2,000 batches (everything it went into):
     p95 < 200 ms.

The data set (full run; --quick builds a tenth of it, the hot lot then goes into 200 batches):

  raw-material lots      40,000  received over ten years (media, reagents, consumables)
  intermediate lots       4,000  prepared media, buffers, vector; each made from 5 raw lots
  production batches      4,000  each uses 3 intermediate lots and 20 raw lots
  drug-substance lots     4,000  one per production batch
  fill/finish batches     1,000  each fills 4 drug-substance lots of its sponsor, uses 5 raw lots
  final product lots      2,000  two per fill/finish batch
  → 50,000 lots, 5,000 batches, ~129,000 genealogy links, six levels:
    raw lot → intermediate lot → batch → drug-substance lot → fill batch → final product lot
  plus one raw-material lot (a cytokine) used in 2,000 production batches, and 1,000,000
  inventory transactions (receipts, issues, samples, transfers) on those lots.

Batches are not a model yet: they take part as genealogy keys 'batches.batch:N', which is all a
trace needs. The data set is bulk-inserted (executemany on SQLite, COPY on PostgreSQL) and not
timed; PostgreSQL is then VACUUM ANALYZEd, as autovacuum would after such a load. What is timed is one call of
`materials.selectors.trace(user, start, direction=…)` by a QA specialist who sees every sponsor
(the widest trace), with the user's role and sponsor caches cleared first, as in a fresh request.
The two traces are measured interleaved; the backward start rotates over 50 final product lots.
Before timing, both traces are checked against the closure computed in Python from the links.

Each database runs in its own worker process against a throwaway data set: a temporary
OPENCDMO_DATA_DIR for SQLite, and on PostgreSQL a database `opencdmo_bench_gen` created and
dropped by this script on the server of OPENCDMO_DATABASE_URL or --postgres URL.

    .venv/bin/python bench/genealogy.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from collections import defaultdict
from pathlib import Path

import harness
from harness import Inserter, log, median, p95, reset_sequences, setup_django

QUICK_HELP = "a tenth of the data set, under a minute"
BENCH_DB = "opencdmo_bench_gen"
TRACE_P95_MS_MAX = 200.0

FULL = {
    "sponsors": 20, "users": 60, "locations": 80, "materials": 600,
    "raw_lots": 40_000, "intermediate_lots": 4_000, "batches": 4_000, "fill_batches": 1_000,
    "hot_batches": 2_000, "transactions": 1_000_000, "repeats": 300,
}
QUICK = {
    "sponsors": 20, "users": 60, "locations": 80, "materials": 600,
    "raw_lots": 4_000, "intermediate_lots": 400, "batches": 400, "fill_batches": 100,
    "hot_batches": 200, "transactions": 100_000, "repeats": 60,
}
RAW_PER_INTERMEDIATE = 5
INTERMEDIATES_PER_BATCH = 3
RAW_PER_BATCH = 20
DS_PER_FILL = 4
RAW_PER_FILL = 5
DP_PER_FILL = 2
BACKWARD_STARTS = 50
WARMUP = 5

YEARS = 10
BASE = dt.datetime(2016, 1, 4, 7, 0, tzinfo=dt.UTC)
SPAN_S = YEARS * 365 * 86_400


# --------------------------------------------------------------------------------------------
# Worker side: runs inside Django against one database.
# --------------------------------------------------------------------------------------------


def _moment(fraction: float) -> dt.datetime:
    return BASE + dt.timedelta(seconds=int(fraction * SPAN_S))


def build(size: dict) -> dict:
    """The data set; returns what the measurements need and the expected graph (not timed)."""
    from django.db import connection

    from opencdmo.core.domain.roles import Role
    from opencdmo.core.models import RoleGrant, User
    from opencdmo.materials.models import GenealogyLink, InventoryLocation, InventoryTransaction, Lot, Material
    from opencdmo.sponsors.models import Sponsor

    rng = random.Random(20160104)
    # People and places: small, through the ORM.
    sponsors = Sponsor.objects.bulk_create(
        [Sponsor(code=f"S{i:02d}", name=f"Sponsor {i:02d} Therapeutics") for i in range(size["sponsors"])])
    sponsor_ids = [s.pk for s in sponsors]
    users = [User(username=f"operator.{i:03d}", full_name=f"Operator {i:03d}") for i in range(size["users"])]
    for u in users:
        u.set_unusable_password()
    users = User.objects.bulk_create(users)
    qa = User(username="qa.reader", full_name="QA Reader")
    qa.set_unusable_password()
    qa.save()
    RoleGrant.objects.create(user=qa, role=Role.QA_SPECIALIST.value)
    qa.sponsors.set(sponsor_ids)
    user_ids = [u.pk for u in users]
    locations = InventoryLocation.objects.bulk_create([
        InventoryLocation(code=f"LOC-{i:03d}", name=f"Store {i:03d}",
                          kind=InventoryLocation.Kind.values[i % len(InventoryLocation.Kind.values)])
        for i in range(size["locations"])])
    location_ids = [loc.pk for loc in locations]
    n_mat = size["materials"]
    raw_categories = ["raw_material", "consumable", "reagent", "critical_reagent", "starting_material"]
    materials = Material.objects.bulk_create(
        [Material(code=f"RM-{i:04d}", name=f"Raw material {i:04d}", category=raw_categories[i % 5],
                  storage="ambient", unit="mL") for i in range(n_mat)]
        + [Material(code=f"{kind[:3].upper()}-{s.code}", name=f"{kind} of {s.name}", category=kind,
                    storage="ln2", unit="mL", sponsor=s)
           for s in sponsors for kind in ("intermediate", "final_product")]
        + [Material(code="INT-CDMO", name="Prepared medium", category="intermediate", storage="refrigerated",
                    unit="mL")])
    raw_materials = [m.pk for m in materials[:n_mat]]
    sponsor_material = {(m.sponsor_id, m.category): m.pk for m in materials[n_mat:]}

    # Lots, in the order of the story. Each: (id, material, sponsor, number, when).
    lot_rows: list[tuple] = []
    lot_sponsor: dict[int, int | None] = {}
    label: dict[str, str] = {}

    def new_lot(material, sponsor, prefix, fraction) -> str:
        lot_id = len(lot_rows) + 1
        when = _moment(fraction)
        number = f"{prefix}-{when.year}-{lot_id:06d}"
        lot_rows.append((lot_id, material, sponsor, number, when))
        lot_sponsor[lot_id] = sponsor
        key = f"materials.lot:{lot_id}"
        label[key] = number
        return key

    n_raw = size["raw_lots"]
    raw = [new_lot(rng.choice(raw_materials), rng.choice(sponsor_ids) if rng.random() < 0.1 else None,
                   "RM", i / n_raw) for i in range(n_raw)]
    hot = raw[len(raw) // 3]  # received in year four; goes into hot_batches batches, and nothing else
    pool = [key for key in raw if key != hot]  # what everything else is made from
    links: list[tuple[str, str, int | None]] = []  # (parent, child, sponsor_id)

    def near(keys, fraction, width):
        """`width` keys around the position `fraction` of a time-ordered list."""
        mid = int(fraction * len(keys))
        lo = max(0, min(len(keys) - width, mid - width // 2))
        return keys[lo:lo + width]

    def link(parent, child, sponsor):
        links.append((parent, child, sponsor))

    intermediates: list[str] = []
    for i in range(size["intermediate_lots"]):
        f = (i + 0.5) / size["intermediate_lots"]
        sponsor = rng.choice(sponsor_ids) if i % 2 else None  # vector for a sponsor, or the CDMO's medium
        material = sponsor_material[(sponsor, "intermediate")] if sponsor else sponsor_material[(None, "intermediate")]
        key = new_lot(material, sponsor, "INT", f)
        intermediates.append(key)
        for parent in rng.sample(near(pool, f, 400), RAW_PER_INTERMEDIATE):
            link(parent, key, sponsor if sponsor is not None else lot_sponsor[int(parent.split(":")[1])])

    n_batches = size["batches"]
    after_hot = range(n_batches // 3 + 1, n_batches)  # the batches made after the hot lot arrived
    hot_batches = set(rng.sample(after_hot, size["hot_batches"]))
    ds_by_sponsor = defaultdict(list)
    for b in range(n_batches):
        f = (b + 0.5) / n_batches
        sponsor = rng.choice(sponsor_ids)
        key = f"batches.batch:{b + 1}"
        label[key] = f"B-{_moment(f).year}-{b + 1:05d}"
        for parent in rng.sample(near(intermediates, f, 60), INTERMEDIATES_PER_BATCH):
            link(parent, key, sponsor)
        for parent in rng.sample(near(pool, f, 1500), RAW_PER_BATCH):
            link(parent, key, sponsor)
        if b in hot_batches:
            link(hot, key, sponsor)
        ds = new_lot(sponsor_material[(sponsor, "intermediate")], sponsor, "DS", f)
        link(key, ds, sponsor)
        ds_by_sponsor[sponsor].append((f, ds))

    # Fill/finish: each sponsor's drug-substance lots in time order, four to a fill batch.
    fills = [(group[0][0], sponsor, [ds for _, ds in group])
             for sponsor, made in ds_by_sponsor.items()
             for group in (made[i:i + DS_PER_FILL] for i in range(0, len(made), DS_PER_FILL))]
    fills.sort(key=lambda fill: fill[0])
    fills = fills[:size["fill_batches"]]
    final_lots = []
    for n, (f, sponsor, ds_lots) in enumerate(fills):
        key = f"batches.batch:{n_batches + n + 1}"
        label[key] = f"FF-{_moment(f).year}-{n + 1:05d}"
        for ds in ds_lots:
            link(ds, key, sponsor)
        for parent in rng.sample(near(pool, f, 1500), RAW_PER_FILL):
            link(parent, key, sponsor)
        for _ in range(DP_PER_FILL):
            dp = new_lot(sponsor_material[(sponsor, "final_product")], sponsor, "DP", min(1.0, f + 0.002))
            link(key, dp, sponsor)
            final_lots.append(dp)

    counts = {}
    t0 = time.perf_counter()
    lots = Inserter(Lot, ["id", "number", "status", "version", "created_at", "created_by_id", "modified_at",
                          "material_id", "sponsor_id", "received_at", "quantity_received", "unit", "containers"])
    counts["materials_lot"] = lots.insert(
        (lot_id, number, "released", 1, lots.when(when), user_ids[lot_id % len(user_ids)], lots.when(when),
         material, sponsor, lots.when(when), "1000.000000", "mL", 1)
        for lot_id, material, sponsor, number, when in lot_rows)
    gl = Inserter(GenealogyLink, ["id", "parent", "child", "parent_label", "child_label", "quantity", "unit",
                                  "sponsor_id", "created_at", "created_by_id"])
    link_time = gl.when(BASE + dt.timedelta(days=1))
    counts["materials_genealogylink"] = gl.insert(
        (n + 1, parent, child, label[parent], label[child], "10.000000", "mL", sponsor, link_time,
         user_ids[n % len(user_ids)])
        for n, (parent, child, sponsor) in enumerate(links))
    log(f"  lots and links inserted in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    tx = Inserter(InventoryTransaction, ["id", "lot_id", "location_id", "kind", "quantity", "balance_after",
                                         "performed_by_id", "performed_at", "reason", "for_type", "for_id",
                                         "for_label"])
    per_lot = max(1, size["transactions"] // len(lot_rows))

    def transactions():
        n = 0
        kinds = ["issue", "issue", "issue", "sample", "transfer_out", "transfer_in"]
        for lot_id, _material, _sponsor, _number, when in lot_rows:
            balance = 1000
            for k in range(per_lot):
                if n >= size["transactions"]:
                    return
                n += 1
                kind = "receive" if k == 0 else kinds[n % len(kinds)]
                delta = 1000 if k == 0 else (10 if kind == "transfer_in" else -10)
                balance += delta if k else 0
                yield (n, lot_id, location_ids[n % len(location_ids)], kind, f"{delta}.000000",
                       f"{balance}.000000", user_ids[n % len(user_ids)],
                       tx.when(when + dt.timedelta(hours=6 * k)), "", "", "", "")
        # A remainder (when transactions do not divide evenly) goes to the oldest lots.
        lot_id = 0
        while n < size["transactions"]:
            n += 1
            lot_id = lot_id % len(lot_rows) + 1
            yield (n, lot_id, location_ids[0], "adjust", "0.000000", "0.000000", user_ids[0],
                   tx.when(BASE), "Stock count", "", "", "")

    counts["materials_inventorytransaction"] = tx.insert(transactions())
    log(f"  {counts['materials_inventorytransaction']:,} inventory transactions inserted "
        f"in {time.perf_counter() - t0:.1f} s")
    reset_sequences([Lot, GenealogyLink, InventoryTransaction])
    if connection.vendor == "postgresql":  # what autovacuum does after a load: statistics, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    counts.update({
        "materials_material": Material.objects.count(),
        "materials_inventorylocation": InventoryLocation.objects.count(),
        "sponsors_sponsor": Sponsor.objects.count(),
        "core_user": User.objects.count(),
    })
    return {
        "qa": qa, "hot": hot, "final_lots": final_lots, "links": links, "counts": counts,
        "batches": n_batches + len(fills),
        "lots_by_level": {"raw": n_raw, "intermediate": len(intermediates), "drug_substance": n_batches,
                          "final_product": len(final_lots)},
    }


def expected_edges(links, start: str, direction: str) -> set[tuple[str, str]]:
    """The links a trace must return, from the closure computed in Python."""
    step = defaultdict(list)
    for parent, child, _ in links:
        if direction == "forward":
            step[parent].append((parent, child, child))
        else:
            step[child].append((parent, child, parent))
    seen, frontier, edges = {start}, [start], set()
    while frontier:
        following = []
        for node in frontier:
            for parent, child, far in step[node]:
                edges.add((parent, child))
                if far not in seen:
                    seen.add(far)
                    following.append(far)
        frontier = following
    return edges


def measure(data: dict, size: dict) -> dict:
    from opencdmo.materials.selectors import reaches, trace

    qa, hot = data["qa"], data["hot"]
    rng = random.Random(7)
    backward_starts = rng.sample(data["final_lots"], min(BACKWARD_STARTS, len(data["final_lots"])))

    # Right answers first: the traces equal the closure of the generated links.
    shape = {}
    for name, start, direction in (("forward", hot, "forward"), ("backward", backward_starts[0], "backward")):
        got = trace(qa, start, direction=direction)
        want = expected_edges(data["links"], start, direction)
        if {(e.parent, e.child) for e in got.edges} != want or len(got.edges) != len(want):
            raise RuntimeError(f"{name} trace from {start} differs from the closure of the links")
        depth = got.depth_of()
        shape[name] = {"edges": len(got.edges), "nodes": len(got.nodes), "levels": max(depth.values()) + 1,
                       "batches": sum(1 for n in got.nodes if n.startswith("batches.batch:"))}
    batches_of_hot = sum(1 for e in trace(qa, hot, direction="forward").edges if e.parent == hot)
    if batches_of_hot != size["hot_batches"]:
        raise RuntimeError(f"the hot lot went into {batches_of_hot} batches, not {size['hot_batches']}")
    log(f"  forward from the hot lot: {shape['forward']}; backward from a final lot: {shape['backward']}")

    def timed(start, direction):
        qa.forget_cached_access()  # a fresh request: roles and sponsors are read again
        t0 = time.perf_counter()
        trace(qa, start, direction=direction)
        return time.perf_counter() - t0

    for i in range(WARMUP):
        timed(hot, "forward")
        timed(backward_starts[i % len(backward_starts)], "backward")
    times = {"forward": [], "backward": []}
    for r in range(size["repeats"]):
        order = ("forward", "backward") if r % 2 == 0 else ("backward", "forward")
        for direction in order:
            start = hot if direction == "forward" else backward_starts[r % len(backward_starts)]
            times[direction].append(timed(start, direction))
    # The write-time cycle check at its widest: linking another raw lot into the hot lot asks
    # whether that lot is downstream of the hot lot, which explores all of it. (No target.)
    other_raw = "materials.lot:1"
    cycle_checks = []
    for _ in range(max(10, size["repeats"] // 5)):
        t0 = time.perf_counter()
        if reaches(hot, other_raw):
            raise RuntimeError("a raw-material lot cannot be downstream of another")
        cycle_checks.append(time.perf_counter() - t0)
    out = {direction: {"median_ms": median(v) * 1000, "p95_ms": p95(v) * 1000, "max_ms": max(v) * 1000,
                       "repeats": len(v), **shape[direction]} for direction, v in times.items()}
    out["reaches"] = {"median_ms": median(cycle_checks) * 1000, "p95_ms": p95(cycle_checks) * 1000}
    return out


def worker(args) -> None:
    from django.db import connection

    size = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    setup_django()
    data = build(size)
    build_s = time.perf_counter() - t0
    log(f"  data set built in {build_s:.1f} s (not measured)")
    load_before = os.getloadavg()[0]
    traces = measure(data, size)
    result = {"vendor": connection.vendor, "build_s": build_s, "counts": data["counts"],
              "batches": data["batches"], "lots_by_level": data["lots_by_level"], "traces": traces,
              "load": max(load_before, os.getloadavg()[0])}
    connection.close()
    Path(args.out).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Orchestrator: one worker process per database, then the table and the JSON line.
# --------------------------------------------------------------------------------------------


def main() -> None:
    args = harness.arguments(__doc__, QUICK_HELP)
    if args.worker:
        worker(args)
        return

    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    size = QUICK if args.quick else FULL
    results = harness.run_on_each_database(__file__, args, BENCH_DB, "build the data set, trace")

    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"Genealogy trace benchmark ({mode} run)", ""]
    first = next(iter(results.values()))
    lines.append("data set (rows per table):")
    for table, rows in first["counts"].items():
        lines.append(f"  {table:<34}{rows:>12,}")
    lines.append(f"  {'batches (genealogy keys)':<34}{first['batches']:>12,}")
    lines.append("  lots by level: " + ", ".join(f"{k} {v:,}" for k, v in first["lots_by_level"].items()))
    lines.append("")
    header = (f"{'database':<11}{'trace':<34}{'nodes':>7}{'links':>7}{'levels':>7}"
              f"{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'repeats':>9}")
    lines += [header, "-" * len(header)]
    what = {"backward": "backward from a final product lot", "forward": "forward from the hot raw lot"}
    for db, res in results.items():
        for direction in ("backward", "forward"):
            t = res["traces"][direction]
            key = f"{db}.{direction}"
            metrics[f"{key}.median_ms"] = round(t["median_ms"], 3)
            metrics[f"{key}.p95_ms"] = round(t["p95_ms"], 3)
            metrics[f"{key}.nodes"] = t["nodes"]
            metrics[f"{key}.links"] = t["edges"]
            targets[f"{key}.p95_ms"] = {"target": f"< {TRACE_P95_MS_MAX:g}", "value": round(t["p95_ms"], 3),
                                        "pass": t["p95_ms"] < TRACE_P95_MS_MAX}
            lines.append(f"{db:<11}{what[direction]:<34}{t['nodes']:>7,}{t['edges']:>7,}{t['levels']:>7}"
                         f"{t['median_ms']:>11.2f}{t['p95_ms']:>9.2f}{t['max_ms']:>9.2f}{t['repeats']:>9}")
        r = res["traces"]["reaches"]
        metrics[f"{db}.cycle_check.median_ms"] = round(r["median_ms"], 3)
        metrics[f"{db}.cycle_check.p95_ms"] = round(r["p95_ms"], 3)
        metrics[f"{db}.rows"] = res["counts"]
        metrics[f"{db}.build_s"] = round(res["build_s"], 1)
        metrics[f"{db}.load_1min"] = round(res["load"], 2)
    lines.append("")
    for db, res in results.items():
        r = res["traces"]["reaches"]
        lines.append(f"{db}: write-time cycle check from the hot lot (reaches): median {r['median_ms']:.2f} ms, "
                     f"p95 {r['p95_ms']:.2f} ms [no target]; data set built in {res['build_s']:.0f} s [not timed]")
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (set OPENCDMO_DATABASE_URL or --postgres URL)")
    loads = ", ".join(f"{db} {res['load']:.1f}" for db, res in results.items())
    lines.append(f"machine load while measuring (1-min load average; wall-clock times include waiting for a "
                 f"CPU): {loads} on {os.cpu_count()} CPUs")
    lines += ["", f"the hot raw-material lot goes into {size['hot_batches']:,} batches; "
                  f"{size['repeats']} repeats per trace, interleaved", ""]
    for name, t in targets.items():
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {name}: {t['value']:g} (target {t['target']})")
    metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
    lines.append(f"\ntotal {metrics['elapsed_s']} s")
    print("\n".join(lines))
    print(json.dumps({"metrics": metrics, "targets": targets, "pass": all(t["pass"] for t in targets.values())}))


if __name__ == "__main__":
    main()
