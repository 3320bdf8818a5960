"""Benchmark: chain of custody at the scale of a busy cell therapy CDMO (DESIGN.md "Benchmarks").

Targets (per database)
  1. a patient's timeline (every custody event of the therapy, refusals included, with elapsed
     times and window states): p95 < 100 ms, for the selector and for the rendered page;
  2. the in-flight board (every therapy in flight, most urgent first): p95 < 300 ms, for the
     selector and for the rendered page;
  3. a sheet of 20 final product bag labels (built from the unit records, rendered to PDF with
     their Code 128 and Data Matrix symbols): < 2 s.

The data set (full run; --quick builds a thirtieth of it):

  sponsors / products           10 / 10    one autologous product each, with five custody windows
  patients, therapy orders  20,000 each    one order per patient, 1 collection, 5 containers
  custody events         2,000,000         ~100 per completed therapy, coherent along its way from
                                           collection to infusion (the first event of each milestone
                                           reaches it), 1 therapy in 50 with a refused scan at
                                           receipt and its deviation
  milestones reached      ~230,000         one row per milestone per therapy
  in flight                    10 %        collected over the last 26 days (5 % of them not yet
                                           collected), so their windows run, are at risk or missed

The rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL) and not timed; PostgreSQL
is then VACUUM ANALYZEd, as autovacuum would after such a load. What is timed is the call of
`identity.selectors.timeline(user, number)` for random therapies and of
`identity.selectors.board(user)`, by a QA specialist who sees every sponsor (the widest board),
with the user's role and sponsor caches cleared first as in a fresh request; and the pages
/identity/orders/<number>/timeline/ and /identity/board/ through Django's test client (signed in,
the whole request: middleware, selector, template). Timeline and board are measured interleaved.
The label sheet is `identity.selectors.labels_for` for four final product bags of each of five
therapies and `identity.labels.label_sheet_pdf` of the 20 labels.

Each database runs in its own worker process against a throwaway data set: a temporary
OPENCDMO_DATA_DIR for SQLite, and on PostgreSQL a database `opencdmo_bench_custody` created and
dropped by this script on the server of OPENCDMO_DATABASE_URL or --postgres URL.

    .venv/bin/python bench/custody.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
from pathlib import Path

import harness
from harness import Inserter, log, median, p95, reset_sequences, setup_django

QUICK_HELP = "a thirtieth of the data set, under a minute"
BENCH_DB = "opencdmo_bench_custody"
TIMELINE_P95_MS_MAX = 100.0
BOARD_P95_MS_MAX = 300.0
LABELS_PDF_S_MAX = 2.0

FULL = {"sponsors": 10, "patients": 20_000, "events": 2_000_000, "repeats": 200, "board_repeats": 40,
        "pdf_repeats": 3}
QUICK = {"sponsors": 10, "patients": 600, "events": 60_000, "repeats": 40, "board_repeats": 10,
         "pdf_repeats": 2}
IN_FLIGHT = 0.10
NOT_COLLECTED = 0.05  # of those in flight
REFUSED_EVERY = 50  # one therapy in 50 has a refused scan at receipt
FINAL_BAGS = 4
LABEL_ORDERS = 5
WARMUP = 5
FACILITY = "B1234"

# The way from vein to vein: hours after collection of each milestone (before jitter), how many
# custody events happen at it on a completed therapy (100 in all), and who hands what to whom.
PATH = [
    # milestone, hours, events, from, to, location
    ("collection", 0, 6, "Apheresis unit", "Centre cell lab", "Treatment centre"),
    ("courier_pickup", 3, 4, "Centre cell lab", "Courier", "Treatment centre"),
    ("receipt", 30, 8, "Courier", "CDMO goods-in", "Goods-in D-002"),
    ("issue_to_manufacturing", 36, 8, "CDMO goods-in", "Manufacturing", "Grade B suite"),
    ("qc_sampling", 36 + 24 * 7, 24, "Manufacturing", "QC laboratory", "QC laboratory"),
    ("cryo_in", 36 + 24 * 9, 12, "Manufacturing", "Cryostore", "Cryostore LN2-01"),
    ("cryo_out", 24 * 21, 10, "Cryostore", "Final labelling", "Cryostore LN2-01"),
    ("final_labeling", 24 * 21 + 2, 10, "Final labelling", "QA release", "Labelling room"),
    ("release_for_shipment", 24 * 22, 6, "QA release", "Shipping", "Shipping bay"),
    ("shipment", 24 * 22 + 4, 6, "Shipping", "Courier", "Shipping bay"),
    ("site_receipt", 24 * 23 + 4, 4, "Courier", "Treatment site pharmacy", "Treatment site"),
    ("infusion", 24 * 25, 2, "Treatment site pharmacy", "Patient", "Treatment site ward"),
]
WINDOWS = [("collection", "receipt", 48, 6), ("collection", "cryo_in", 24 * 11, 24),
           ("cryo_out", "release_for_shipment", 36, 6), ("release_for_shipment", "infusion", 96, 12),
           ("collection", "infusion", 24 * 28, 48)]
CRITICAL = {"receipt", "final_labeling", "release_for_shipment"}
UNIT_FROM = 5  # from cryo-in on, the events concern the final product bags
DELAYED, DELAYED_EVERY = 1.6, 30


def build(size: dict) -> dict:
    """The data set (not timed); returns what the measurements need."""
    from django.db import connection

    from opencdmo.core.domain.roles import Role
    from opencdmo.core.models import RoleGrant, User
    from opencdmo.identity.domain import isbt128
    from opencdmo.identity.models import (
        Collection,
        CustodyEvent,
        CustodyWindow,
        MilestoneReached,
        Patient,
        ProductIdentity,
        TherapyOrder,
        TreatmentCentre,
        Unit,
    )
    from opencdmo.quality.models import Deviation
    from opencdmo.sponsors.models import Product, Program, Sponsor

    rng = random.Random(20261206)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sponsors = Sponsor.objects.bulk_create(
        [Sponsor(code=f"S{i:02d}", name=f"Sponsor {i:02d} Cell Therapeutics") for i in range(size["sponsors"])])
    programs = Program.objects.bulk_create(
        [Program(sponsor=s, code=f"{s.code}-CART", name="CD19 CAR-T") for s in sponsors])
    products = Product.objects.bulk_create(
        [Product(program=p, code=f"{p.sponsor.code}-101", name="Autologous CD19 CAR-T",
                 modality="autologous_cell", phase="phase_2") for p in programs])
    ProductIdentity.objects.bulk_create(
        [ProductIdentity(product=p, collection_pdc="S1001", final_pdc="S1295", collection_type="1") for p in products])
    CustodyWindow.objects.bulk_create(
        [CustodyWindow(product=p, start=start, end=end, limit_hours=limit, warn_hours=warn)
         for p in products for start, end, limit, warn in WINDOWS])
    centres = TreatmentCentre.objects.bulk_create(
        [TreatmentCentre(sponsor=s, code=f"C{c}", name=f"University Hospital {s.code}-{c}")
         for s in sponsors for c in range(3)])
    centres_of = {s.pk: [c.pk for c in centres if c.sponsor_id == s.pk] for s in sponsors}
    people = [User(username=f"handler.{i:02d}", full_name=f"Material Handler {i:02d}") for i in range(20)]
    for person in people:
        person.set_unusable_password()
    people = User.objects.bulk_create(people)
    people_ids = [p.pk for p in people]
    qa = User(username="qa.reader", full_name="QA Reader")
    qa.set_unusable_password()
    qa.save()
    RoleGrant.objects.create(user=qa, role=Role.QA_SPECIALIST.value)
    qa.sponsors.set([s.pk for s in sponsors])

    # The therapies: who, which product, when collected, how far along (not yet inserted).
    n = size["patients"]
    in_flight = set(rng.sample(range(n), int(n * IN_FLIGHT)))
    therapies = []
    for i in range(n):
        sponsor = sponsors[i % len(sponsors)]
        if i in in_flight:
            collected = now - dt.timedelta(hours=rng.uniform(1, 24 * 26))
            if rng.random() < NOT_COLLECTED:
                collected = None
        else:  # completed over the last five years
            collected = now - dt.timedelta(days=40 + rng.uniform(0, 5 * 365))
        ordered = (collected or now - dt.timedelta(days=rng.uniform(1, 10))) - dt.timedelta(days=rng.uniform(7, 21))
        # Each step takes its usual time give or take, and one in DELAYED_EVERY much longer: what
        # puts some therapies at risk or late.
        reached, at, previous_hours = [], collected, 0
        if collected is not None:
            for milestone, hours, *_ in PATH:
                stretch = DELAYED if rng.random() < 1 / DELAYED_EVERY else rng.uniform(0.8, 1.1)
                at += dt.timedelta(hours=(hours - previous_hours) * stretch)
                previous_hours = hours
                if at >= now:
                    break
                reached.append((milestone, at))
            if i in in_flight and len(reached) == len(PATH):
                reached.pop()  # still in flight: not infused yet
        therapies.append({"i": i, "sponsor": sponsor, "product": products[i % len(products)].pk,
                          "ordered": ordered, "reached": reached})

    # Events per milestone: the PATH counts, scaled so the whole comes to the size asked for.
    base = sum(PATH[k][2] for t in therapies for k in range(len(t["reached"])))
    scale = size["events"] / base if base else 1

    counts = {}
    t0 = time.perf_counter()
    user_of = people_ids[0]
    patients = Inserter(Patient, ["id", "number", "status", "version", "created_at", "created_by_id",
                                             "modified_at", "sponsor_id", "subject_id", "centre_id"])
    when = patients.when  # a timestamp as this database takes it in bulk
    counts["identity_patient"] = patients.insert(
        (t["i"] + 1, f"PT-B-{t['i'] + 1:06d}", "enrolled", 1, when(t["ordered"]), user_of, when(t["ordered"]),
         t["sponsor"].pk, f"SUBJ-{t['i'] + 1:06d}", centres_of[t["sponsor"].pk][t["i"] % 3]) for t in therapies)
    year = f"{now.year % 100:02d}"
    for t in therapies:
        t["coi"] = isbt128.ChainOfIdentity.build(FACILITY, year, f"{t['i'] + 1:06d}").data_content
        t["din"] = isbt128.Din.build(FACILITY, year, t["i"] + 1).din13
        t["stage"] = t["reached"][-1][0] if t["reached"] else "ordered"

    def day(moment):
        value = moment.date()
        return value if connection.vendor == "postgresql" else connection.ops.adapt_datefield_value(value)

    orders = Inserter(TherapyOrder, ["id", "number", "status", "version", "created_at", "created_by_id",
                                     "modified_at", "patient_id", "product_id", "coi", "planned_collection", "stage"])
    counts["identity_therapyorder"] = orders.insert(
        (t["i"] + 1, f"ORD-B-{t['i'] + 1:06d}", "ordered", 1, when(t["ordered"]), user_of, when(t["ordered"]),
         t["i"] + 1, t["product"], t["coi"], day(t["reached"][0][1] if t["reached"] else t["ordered"]),
         t["stage"]) for t in therapies)
    collections = Inserter(Collection, ["id", "number", "status", "version", "created_at", "created_by_id",
                                        "modified_at", "order_id", "centre_id", "din", "planned_on", "collected_at"])
    counts["identity_collection"] = collections.insert(
        (t["i"] + 1, f"COL-B-{t['i'] + 1:06d}", "collected" if t["reached"] else "booked", 1, when(t["ordered"]),
         user_of, when(t["ordered"]), t["i"] + 1, centres_of[t["sponsor"].pk][t["i"] % 3], t["din"],
         day(t["reached"][0][1] if t["reached"] else t["ordered"]),
         when(t["reached"][0][1]) if t["reached"] else None) for t in therapies)

    # Containers: the collection bag, and four final product bags (divisions A0…D0) once made.
    unit_rows, units_of = [], {}
    for t in therapies:
        if not t["reached"]:
            continue
        made = dict(t["reached"]).get("cryo_in")
        bags = [("collection_bag", isbt128.ProductCode.build("S1001", "1").data_content, None)]
        if made:
            expiry = made + dt.timedelta(days=180)
            bags += [("final_product_bag", isbt128.ProductCode.build("S1295", "1", f"{chr(65 + b)}0").data_content,
                      expiry) for b in range(FINAL_BAGS)]
        units_of[t["i"]] = []
        for kind, code, expiry in bags:
            unit_id = len(unit_rows) + 1
            units_of[t["i"]].append((unit_id, code))
            unit_rows.append((unit_id, f"UN-B-{unit_id:07d}", "at_site" if t["stage"] == "infusion" else "received",
                              1, when(t["reached"][0][1]), user_of, when(t["reached"][0][1]), t["i"] + 1, t["i"] + 1,
                              kind, t["din"], code, when(expiry) if expiry else None, PATH[-1][4]))
    units = Inserter(Unit, ["id", "number", "status", "version", "created_at", "created_by_id", "modified_at",
                            "order_id", "collection_id", "kind", "din", "product_code", "expires_at", "holder"])
    counts["identity_unit"] = units.insert(iter(unit_rows))
    log(f"  patients, orders, collections and units inserted in {time.perf_counter() - t0:.1f} s")

    # A refused scan at receipt raises a deviation: one per refusing therapy, through the ORM (few).
    refusing = [t for t in therapies if t["i"] % REFUSED_EVERY == 7 and len(t["reached"]) > 2]
    deviations = Deviation.objects.bulk_create([
        Deviation(number=f"DEV-B-{k + 1:05d}", status="open", created_at=t["reached"][2][1], created_by_id=user_of,
                  modified_at=t["reached"][2][1], title=f"Identity mismatch at receipt for ORD-B-{t['i'] + 1:06d}",
                  description="The scan named another therapy: the material was not handed on.", source="custody",
                  sponsor=t["sponsor"], raised_by_id=user_of, raised_at=t["reached"][2][1], area="Goods-in D-002",
                  category="chain_of_identity", immediate_actions="Handoff blocked by the system.")
        for k, t in enumerate(refusing)])
    deviation_of = {t["i"]: d.pk for t, d in zip(refusing, deviations, strict=True)}

    t0 = time.perf_counter()
    label_text = {}

    def scans(t, unit_code):
        key = (t["din"], unit_code)
        if key not in label_text:
            label_text[key] = (isbt128.Din.from_content(t["din"] + "00").text + "\n"
                               + isbt128.ProductCode.from_content(unit_code).text)
        return label_text[key]

    def events():
        event_id, carry = 0, 0.0
        for t in therapies:
            reached, bags = t["reached"], units_of.get(t["i"], [])
            for k, (milestone, at) in enumerate(reached):
                _, _, per, from_party, to_party, location = PATH[k]
                carry += per * scale
                many = max(1, int(carry))
                carry -= many
                gap_end = reached[k + 1][1] if k + 1 < len(reached) else min(at + dt.timedelta(hours=6), now)
                step = (gap_end - at) / (many + 1)
                finals = bags[1:] or bags[:1]
                if milestone == "receipt" and t["i"] in deviation_of:
                    event_id += 1
                    other = therapies[(t["i"] + 1) % len(therapies)]
                    yield (event_id, t["i"] + 1, bags[0][0], milestone, when(at - dt.timedelta(minutes=10)),
                           people_ids[event_id % 20], None, from_party, to_party, location,
                           isbt128.ChainOfIdentity.from_content(other["coi"]).text, "refused",
                           f"The scan names chain of identity {other['coi']}, not {t['coi']}.",
                           deviation_of[t["i"]], "")
                for e in range(many):
                    event_id += 1
                    unit_id, code = finals[e % len(finals)] if k >= UNIT_FROM else bags[0]
                    yield (event_id, t["i"] + 1, unit_id, milestone, when(at + step * e),
                           people_ids[event_id % 20],
                           people_ids[(event_id + 7) % 20] if milestone in CRITICAL else None,
                           from_party, to_party, location, scans(t, code), "verified", "", None, "")

    custody = Inserter(CustodyEvent, ["id", "order_id", "unit_id", "kind", "at", "by_id", "verified_by_id",
                                      "from_party", "to_party", "location", "scanned", "result", "problem",
                                      "deviation_id", "note"])
    counts["identity_custodyevent"] = custody.insert(events())
    log(f"  {counts['identity_custodyevent']:,} custody events inserted in {time.perf_counter() - t0:.1f} s")
    reached_rows = Inserter(MilestoneReached, ["id", "order_id", "milestone", "at"])
    counts["identity_milestonereached"] = reached_rows.insert(
        (n_row, order_id, milestone, when(at)) for n_row, (order_id, milestone, at) in enumerate(
            ((t["i"] + 1, milestone, at) for t in therapies for milestone, at in t["reached"]), start=1))
    counts["quality_deviation"] = len(deviations)
    reset_sequences([Patient, TherapyOrder, Collection, Unit, CustodyEvent, MilestoneReached])
    if connection.vendor == "postgresql":  # what autovacuum does after a load: statistics, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    # The label sheet: the final product bags of five completed therapies.
    labelled = [t for t in therapies if t["stage"] == "infusion"][:LABEL_ORDERS]
    return {
        "qa": qa, "counts": counts, "now": now,
        "numbers": [f"ORD-B-{t['i'] + 1:06d}" for t in therapies],
        "label_orders": [f"ORD-B-{t['i'] + 1:06d}" for t in labelled],
        "in_flight": sum(1 for t in therapies if t["stage"] != "infusion"),
    }


def measure(data: dict, size: dict) -> dict:
    from django.test import Client
    from django.urls import reverse

    from opencdmo.identity import selectors
    from opencdmo.identity.labels import label_sheet_pdf
    from opencdmo.identity.models import TherapyOrder

    qa = data["qa"]
    rng = random.Random(7)
    client = Client()
    client.force_login(qa)

    # Right answers first: the board holds every therapy in flight; a timeline holds its events.
    board = selectors.board(qa)
    if len(board) != data["in_flight"]:
        raise RuntimeError(f"the board shows {len(board)} therapies, {data['in_flight']} are in flight")
    flags = {"missed": sum(r.flag == "missed" for r in board), "at_risk": sum(r.flag == "at_risk" for r in board)}
    sample = data["numbers"][len(data["numbers"]) // 3]
    shown = selectors.timeline(qa, sample)
    expected = TherapyOrder.objects.get(number=sample).custody_events.count()
    if sum(1 for e in shown.entries if e.event) != expected:
        raise RuntimeError(f"the timeline of {sample} misses events")
    log(f"  board: {len(board):,} in flight, {flags['missed']} missed, {flags['at_risk']} at risk; "
        f"a timeline holds {expected} events")

    def timed(call):
        qa.forget_cached_access()  # a fresh request: roles and sponsors are read again
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0

    def get(url):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        return call

    numbers = rng.sample(data["numbers"], min(len(data["numbers"]), size["repeats"]))
    for number in numbers[:WARMUP]:
        timed(lambda number=number: selectors.timeline(qa, number))
        timed(get(reverse("identity:timeline", args=[number])))
    times = {"timeline": [], "timeline_page": [], "board": [], "board_page": []}
    board_every = max(1, size["repeats"] // size["board_repeats"])
    for r, number in enumerate(numbers):
        times["timeline"].append(timed(lambda number=number: selectors.timeline(qa, number)))
        times["timeline_page"].append(timed(get(reverse("identity:timeline", args=[number]))))
        if r % board_every == 0:
            times["board"].append(timed(lambda: selectors.board(qa)))
            times["board_page"].append(timed(get(reverse("identity:board"))))

    labels = []

    def build_labels():
        labels.clear()
        for number in data["label_orders"]:
            order = selectors.order(qa, number)
            labels.extend(selectors.labels_for(order, kind="final_product_bag",
                                               units=order.units.filter(kind="final_product_bag").order_by("id")))
        if len(labels) != LABEL_ORDERS * FINAL_BAGS:
            raise RuntimeError(f"{len(labels)} labels built, not {LABEL_ORDERS * FINAL_BAGS}")

    def render():
        if not label_sheet_pdf(labels).startswith(b"%PDF"):
            raise RuntimeError("the label sheet is not a PDF")

    built, rendered = [], []
    for _ in range(size["pdf_repeats"]):
        built.append(timed(build_labels))
        rendered.append(timed(render))
    pdf = [b + r for b, r in zip(built, rendered, strict=True)]
    out = {name: {"median_ms": median(v) * 1000, "p95_ms": p95(v) * 1000, "max_ms": max(v) * 1000,
                  "repeats": len(v)} for name, v in times.items()}
    out["pdf"] = {"median_s": median(pdf), "max_s": max(pdf), "repeats": len(pdf),
                  "build_max_s": max(built), "render_max_s": max(rendered)}
    out["board_rows"], out["flags"], out["events_in_sample"] = len(board), flags, expected
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
    result = {"vendor": connection.vendor, "build_s": build_s, "counts": data["counts"],
              "measures": measure(data, size), "load": max(load_before, os.getloadavg()[0])}
    connection.close()
    Path(args.out).write_text(json.dumps(result))


def _target(targets: dict, name: str, value: float, limit: float, unit: str) -> None:
    targets[name] = {"target": f"< {limit:g} {unit}", "value": round(value, 3), "pass": value < limit}


def main() -> None:
    args = harness.arguments(__doc__, QUICK_HELP)
    if args.worker:
        worker(args)
        return

    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    results = harness.run_on_each_database(__file__, args, BENCH_DB, "build the data set, time timeline and board")

    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"Chain of custody benchmark ({mode} run)", "", "data set (rows per table):"]
    first = next(iter(results.values()))
    for table, rows in first["counts"].items():
        lines.append(f"  {table:<34}{rows:>12,}")
    m = first["measures"]
    lines += [f"  in flight on the board: {m['board_rows']:,} ({m['flags']['missed']} missed, "
              f"{m['flags']['at_risk']} at risk)", ""]
    header = f"{'database':<11}{'measure':<38}{'median':>10}{'p95':>10}{'max':>10}{'n':>6}"
    lines += [header, "-" * len(header)]
    what = {"timeline": "timeline, selector (ms)", "timeline_page": "timeline, page (ms)",
            "board": "in-flight board, selector (ms)", "board_page": "in-flight board, page (ms)"}
    for db, res in results.items():
        measures = res["measures"]
        for name, label in what.items():
            t = measures[name]
            lines.append(f"{db:<11}{label:<38}{t['median_ms']:>10.1f}{t['p95_ms']:>10.1f}{t['max_ms']:>10.1f}"
                         f"{t['repeats']:>6}")
            metrics[f"{db}.{name}.median_ms"] = round(t["median_ms"], 2)
            metrics[f"{db}.{name}.p95_ms"] = round(t["p95_ms"], 2)
            limit = TIMELINE_P95_MS_MAX if name.startswith("timeline") else BOARD_P95_MS_MAX
            _target(targets, f"{db}.{name}.p95_ms", t["p95_ms"], limit, "ms")
        p = measures["pdf"]
        lines.append(f"{db:<11}{'20-label PDF (s)':<38}{p['median_s']:>10.2f}{'':>10}{p['max_s']:>10.2f}"
                     f"{p['repeats']:>6}")
        lines.append(f"{db:<11}{'  of which building the labels (s)':<38}{'':>20}{p['build_max_s']:>10.2f}")
        metrics[f"{db}.labels_pdf.max_s"] = round(p["max_s"], 3)
        metrics[f"{db}.labels_pdf.build_max_s"] = round(p["build_max_s"], 3)
        _target(targets, f"{db}.labels_pdf.max_s", p["max_s"], LABELS_PDF_S_MAX, "s")
        metrics[f"{db}.rows"] = res["counts"]
        metrics[f"{db}.build_s"] = round(res["build_s"], 1)
        metrics[f"{db}.load_1min"] = round(res["load"], 2)
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (set OPENCDMO_DATABASE_URL or --postgres URL)")
    loads = ", ".join(f"{db} {res['load']:.1f}" for db, res in results.items())
    lines.append(f"\nmachine load while measuring (1-min load average): {loads} on {os.cpu_count()} CPUs; "
                 f"data sets built in " + ", ".join(f"{db} {res['build_s']:.0f} s" for db, res in results.items())
                 + " [not timed]\n")
    for name, t in targets.items():
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {name}: {t['value']:g} (target {t['target']})")
    metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
    lines.append(f"\ntotal {metrics['elapsed_s']} s")
    print("\n".join(lines))
    print(json.dumps({"metrics": metrics, "targets": targets, "pass": all(t["pass"] for t in targets.values())}))


if __name__ == "__main__":
    main()
