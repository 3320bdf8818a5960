"""Benchmark: environmental monitoring at the scale of five years of a CDMO's cleanrooms (issue 8, "Performance").

Targets (per database)
  1. a room's trend chart with the Nelson rules evaluated (`envmon.selectors.room_trend`, 90 days, every
     location, then `envmon.charts.trend_chart` to SVG), and the whole room page (`envmon:room`: heat map,
     trend chart, signals, latest results) through Django's test client: p95 < 500 ms;
  2. a batch's EM summary (`envmon.selectors.batch_em_summary`, the disposition's prerequisite): p95 < 100 ms.

The data set (full run; --quick keeps the rooms and locations and samples 60 days instead of five years):

  rooms                      20     grades A, B, C and D, five each, with a floor plan
  locations                  80     four a room, each with a plan per sample type it takes
  sample types                      A and B: settle plate, active air, contact plate, particles ≥0.5 µm;
                                    C and D: settle plate, contact plate, particles ≥0.5 µm
  level sets                        approved alert and action levels per grade and sample type
  read results         ~510,000     one a day per location and sample type over five years: viable
                                    counts Poisson-like around a grade's usual level (a few at alert and
                                    action), particle concentrations log-normal; judged and levelled
  excursions                        one per action-level result, naming the batches in the room then
  batches                ~2,600     one every 14 days in each room, made over 10 days

The rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL) and not timed; PostgreSQL is
then VACUUM ANALYZEd. Timed, by a QC reviewer, interleaved: the trend selector and chart, the room
page, and the batch summary of randomly chosen batches.

    .venv/bin/python bench/envmon.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import harness
from harness import Inserter, log, median, p95, reset_sequences, setup_django

QUICK_HELP = "60 days of results instead of five years, under a minute"
BENCH_DB = "opencdmo_bench_envmon"
TREND_P95_MS_MAX = 500.0
SUMMARY_P95_MS_MAX = 100.0

FULL = {"days": 5 * 365 + 1, "repeats": 60, "summaries": 200}
QUICK = {"days": 60, "repeats": 20, "summaries": 50}
ROOMS, LOCATIONS = 20, 4
BATCH_EVERY, BATCH_DAYS = 14, 10
WARMUP = 3

VIABLE_AB = ("settle_plate", "active_air", "contact_plate", "particles_0_5")
VIABLE_CD = ("settle_plate", "contact_plate", "particles_0_5")
# grade → sample type → (usual level: Poisson mean or log-normal median, site alert, site action)
PROFILE = {
    "A": {"settle_plate": (0.02, None, None), "active_air": (0.02, None, None), "contact_plate": (0.02, None, None),
          "particles_0_5": (400, 2_000, 3_000)},
    "B": {"settle_plate": (0.4, 2, 4), "active_air": (0.8, 5, 8), "contact_plate": (0.4, 2, 4),
          "particles_0_5": (30_000, 150_000, 250_000)},
    "C": {"settle_plate": (6, 20, 35), "contact_plate": (3, 10, 18), "particles_0_5": (400_000, 1_500_000, 2_500_000)},
    "D": {"settle_plate": (12, 40, 70), "contact_plate": (6, 20, 35), "particles_0_5": (600_000, 2_000_000, 3_000_000)},
}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: a Poisson count (with an occasional burst, so a few results reach action level)."""
    if rng.random() < 0.002:
        mean *= 8
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build(size: dict) -> dict:
    """The data set (not timed); returns what the measurements need."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from django.db import connection
    from tests.batches import builders as batch_builders
    from tests.envmon import builders

    from opencdmo.batches.models import Batch
    from opencdmo.core.domain.roles import Role
    from opencdmo.core.models import User
    from opencdmo.envmon.models import EmSample, Excursion, Location, Plan
    from opencdmo.envmon.selectors import limits_in_force
    from opencdmo.sponsors.models import Product, Program, Sponsor

    rng = random.Random(20261207)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    counts: dict[str, int] = {}

    sponsor = Sponsor.objects.create(code="ANCHOR", name="Anchor Cell Therapeutics")
    program = Program.objects.create(sponsor=sponsor, code="ANCHOR-CD19", name="CD19 CAR-T")
    Product.objects.create(program=program, code="ANC-101", name="Autologous CD19 CAR-T",
                           modality="autologous_cell", phase="phase_2")
    world = batch_builders.world(sponsor)
    reviewer = batch_builders.person("bench.em", Role.QC_REVIEWER, sponsors=[sponsor])
    log("  anchor world built through the services")

    rooms, limits = [], {}
    for i in range(ROOMS):
        grade = "ABCD"[i % 4]
        room = builders.room(f"EM-{grade}{i + 1:02d}", grade=grade, width=str(4 + i % 5), length=str(3 + i % 3))
        types = VIABLE_AB if grade in "AB" else VIABLE_CD
        builders.locations(room, reviewer, LOCATIONS, sample_types=types)
        rooms.append(room)
    for grade, profile in PROFILE.items():
        for sample_type, (_, alert, action) in profile.items():
            if alert is not None:
                builders.level_set(reviewer, grade, sample_type, alert, action)
    for room in rooms:
        for sample_type in PROFILE[room.grade]:
            limits[(room.pk, sample_type)] = limits_in_force(room, sample_type, "in_operation")
    counts["envmon_location"] = Location.objects.count()
    counts["envmon_plan"] = Plan.objects.count()

    # Batches through the rooms: one every 14 days, made over 10 days.
    template = {f.attname: getattr(world.batch, f.attname) for f in Batch._meta.concrete_fields if not f.primary_key}
    start = now - dt.timedelta(days=size["days"])
    batches, windows = [], {}
    for room in rooms:
        t = start + dt.timedelta(days=rng.uniform(0, BATCH_EVERY))
        while t + dt.timedelta(days=BATCH_DAYS) < now:
            batches.append(Batch(**(template | {"number": f"B-EM{len(batches) + 1:05d}", "room_id": room.pk,
                                                "status": "completed", "started_at": t,
                                                "completed_at": t + dt.timedelta(days=BATCH_DAYS)})))
            t += dt.timedelta(days=BATCH_EVERY)
    batches = Batch.objects.bulk_create(batches, batch_size=1000)
    for b in batches:
        windows.setdefault(b.room_id, []).append((b.started_at, b.completed_at, b.pk))
    counts["batches_batch (EM)"] = len(batches)

    # One read result a day per location and sample type.
    columns = ["id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "plan_id",
               "location_id", "room_id", "grade", "sample_type", "state", "collected_by_id", "collected_at",
               "count", "value", "read_by_id", "read_at", "level", "limits", "comment"]
    inserter = Inserter(EmSample, columns)
    when = inserter.when
    plans = {(p.location_id, p.sample_type): p.pk for p in Plan.objects.all()}
    locations = list(Location.objects.select_related("room").order_by("room__code", "code"))
    records = {key: json.dumps(lim.as_record()) for key, lim in limits.items()}
    actions: list[tuple[int, int, int, dt.datetime]] = []  # sample id, room, location, time

    def rows():
        n = 0
        for day in range(size["days"]):
            base = start + dt.timedelta(days=day, hours=9)
            for loc in locations:
                room = loc.room
                for k, sample_type in enumerate(loc.sample_types):
                    n += 1
                    usual = PROFILE[room.grade][sample_type][0]
                    if sample_type == "particles_0_5":
                        count = int(rng.lognormvariate(math.log(usual), 0.5 if rng.random() > 0.002 else 1.6))
                    else:
                        count = _poisson(rng, usual)
                    value = Decimal(count)
                    level = limits[(room.pk, sample_type)].judge(value).level
                    at = base + dt.timedelta(minutes=7 * k)
                    if level == "action":
                        actions.append((n, room.pk, loc.pk, at))
                    yield (n, f"EM-B{n:07d}", "read", 2, when(at), reviewer.pk, when(at + dt.timedelta(days=5)),
                           plans[(loc.pk, sample_type)], loc.pk, room.pk, room.grade, sample_type, "in_operation",
                           reviewer.pk, when(at), count, value, reviewer.pk, when(at + dt.timedelta(days=5)), level,
                           records[(room.pk, sample_type)], "")

    counts["envmon_emsample"] = inserter.insert(rows())
    excursions, links = [], []
    for k, (sample_id, room_id, location_id, at) in enumerate(actions, start=1):
        excursions.append(Excursion(id=k, number=f"EXC-B{k:06d}", status="closed", created_at=at, modified_at=at,
                                    created_by=reviewer, kind="action", sample_id=sample_id, room_id=room_id,
                                    location_id=location_id, rule="action level", window_start=at - dt.timedelta(days=1),
                                    window_end=at, acknowledged_by=reviewer, acknowledged_at=at + dt.timedelta(days=1)))
        links += [Excursion.batches.through(excursion_id=k, batch_id=pk)
                  for started, completed, pk in windows.get(room_id, []) if started - dt.timedelta(days=1) <= at <= completed]
    Excursion.objects.bulk_create(excursions, batch_size=1000)
    Excursion.batches.through.objects.bulk_create(links, batch_size=1000)
    counts["envmon_excursion"], counts["envmon_excursion_batches"] = len(excursions), len(links)
    reset_sequences([EmSample, Excursion])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"user": User.objects.get(pk=reviewer.pk), "rooms": [r.code for r in rooms],
            "batches": [b.number for b in batches], "counts": counts}


def measure(data: dict, size: dict) -> dict:
    from django.test import Client
    from django.urls import reverse

    from opencdmo.batches.models import Batch
    from opencdmo.envmon import charts, selectors

    user = data["user"]
    rng = random.Random(8)
    client = Client()
    client.force_login(user)

    def timed(call):
        user.forget_cached_access()
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0

    def trend(code):
        def call():
            room = selectors.room(code)
            result = selectors.room_trend(room, sample_type="settle_plate")
            if not result.series or "<svg" not in charts.trend_chart(result):
                raise RuntimeError(f"no trend drawn for {code}")
        return call

    def page(code):
        def call():
            response = client.get(reverse("envmon:room", args=[code]) + "?sample_type=settle_plate")
            if response.status_code != 200:
                raise RuntimeError(f"{code} answered {response.status_code}: {response.content[:300]!r}")
        return call

    def summary(number):
        def call():
            found = selectors.batch_em_summary(Batch.objects.select_related("room").get(number=number))
            if found.state not in ("met", "unmet", "pending") or not found.total:
                raise RuntimeError(f"{number}: no EM summary ({found.state}: {found.detail})")
        return call

    codes = [rng.choice(data["rooms"]) for _ in range(size["repeats"] + WARMUP)]
    numbers = rng.sample(data["batches"], min(len(data["batches"]), size["summaries"] + WARMUP))
    for code, number in zip(codes[:WARMUP], numbers[:WARMUP], strict=True):
        timed(trend(code)), timed(page(code)), timed(summary(number))
    times: dict[str, list] = {"trend": [], "room_page": [], "batch_summary": []}
    for i, number in enumerate(numbers[WARMUP:]):
        if i < size["repeats"]:
            times["trend"].append(timed(trend(codes[WARMUP + i])))
            times["room_page"].append(timed(page(codes[WARMUP + i])))
        times["batch_summary"].append(timed(summary(number)))
    return {name: {"median_ms": median(v) * 1000, "p95_ms": p95(v) * 1000, "max_ms": max(v) * 1000,
                   "repeats": len(v)} for name, v in times.items()}


def worker(args) -> None:
    from django.db import connection

    size = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    setup_django()
    from opencdmo.core import context

    with context.action(client_address="127.0.0.1"):
        data = build(size)
        build_s = time.perf_counter() - t0
        log(f"  data set built in {build_s:.1f} s (not measured)")
        load_before = os.getloadavg()[0]
        result = {"vendor": connection.vendor, "build_s": build_s, "counts": data["counts"],
                  "measures": measure(data, size), "load": max(load_before, os.getloadavg()[0])}
    connection.close()
    Path(args.out).write_text(json.dumps(result))


LIMITS = {"trend": TREND_P95_MS_MAX, "room_page": TREND_P95_MS_MAX, "batch_summary": SUMMARY_P95_MS_MAX}
LABELS = {"trend": "room trend + rules + SVG, selector (ms)", "room_page": "room page (ms)",
          "batch_summary": "batch EM summary (ms)"}


def main() -> None:
    args = harness.arguments(__doc__, QUICK_HELP)
    if args.worker:
        worker(args)
        return
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    results = harness.run_on_each_database(__file__, args, BENCH_DB,
                                           "build the data set, time room trend, room page and batch EM summary")
    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"Environmental monitoring benchmark ({mode} run)", "", "data set (rows per table):"]
    for table, rows in next(iter(results.values()))["counts"].items():
        lines.append(f"  {table:<34}{rows:>12,}")
    header = f"{'database':<11}{'measure':<42}{'median':>10}{'p95':>10}{'max':>10}{'n':>6}"
    lines += ["", header, "-" * len(header)]
    for db, res in results.items():
        for name, t in res["measures"].items():
            lines.append(f"{db:<11}{LABELS[name]:<42}{t['median_ms']:>10.1f}{t['p95_ms']:>10.1f}{t['max_ms']:>10.1f}"
                         f"{t['repeats']:>6}")
            metrics[f"{db}.{name}.median_ms"] = round(t["median_ms"], 2)
            metrics[f"{db}.{name}.p95_ms"] = round(t["p95_ms"], 2)
            value = t["p95_ms"]
            targets[f"{db}.{name}.p95_ms"] = {"target": f"< {LIMITS[name]:g} ms", "value": round(value, 3),
                                              "pass": value < LIMITS[name]}
        metrics[f"{db}.rows"] = res["counts"]
        metrics[f"{db}.build_s"] = round(res["build_s"], 1)
        metrics[f"{db}.load_1min"] = round(res["load"], 2)
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (set OPENCDMO_DATABASE_URL or --postgres URL)")
    loads = ", ".join(f"{db} {res['load']:.1f}" for db, res in results.items())
    lines.append(f"\nmachine load while measuring (1-min load average): {loads} on {os.cpu_count()} CPUs\n")
    for name, t in targets.items():
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {name}: {t['value']:g} (target {t['target']})")
    metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
    lines.append(f"\ntotal {metrics['elapsed_s']} s")
    print("\n".join(lines))
    print(json.dumps({"metrics": metrics, "targets": targets, "pass": all(t["pass"] for t in targets.values())}))


if __name__ == "__main__":
    main()
