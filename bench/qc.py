"""Benchmark: the QC laboratory and batch disposition at the scale of a busy CDMO (issue 7, "Performance").

Targets (per database)
  1. the analyst's worklist of samples due (`qc:worklist`, selector `qc.selectors.worklist(user,
     kind="due")` with `worklist_details` on its first page of 50): p95 < 200 ms;
  2. the batch disposition page (`release:batch`, selector `release.selectors.batch_prerequisites`):
     p95 < 200 ms;
  3. a certificate of analysis (`release.certificates.batch_certificate`, every result of the
     batch against its limit, the QA release signature, rendered to PDF and audited): < 2 s.

The data set (full run; --quick builds a twentieth of the batches and results, all 100 specifications):

  sponsors / products          10 / 50     five allogeneic products a sponsor
  specifications                   100     a release and an in-process specification per product,
                                           20 criteria each (≥, ≤, range, not detected, report only)
  batches                        5,000     over two years; 90 % released (a signed-off disposition),
                                           5 % reviewed and awaiting QA's decision, 5 % still in QC
  samples                       10,000     an in-process and a release sample per batch
  results                     ~200,000     one per criterion per sample, 1 in 150 (of the numeric
                                           criteria) an OOS result invalidated after a Phase I
                                           investigation, with its retest; the batches still in QC have
                                           three quarters of their release results entered (awaiting
                                           review) and a quarter still to test (their samples are due)

The rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL) and not timed; PostgreSQL
is then VACUUM ANALYZEd, as autovacuum would after such a load. A world of real records built
through the services (site, room, master batch record, people) anchors the bulk rows. Timed, by
users who see every sponsor (the widest view), with their role and sponsor caches cleared as in
a fresh request: the selectors, and the pages through Django's test client (signed in, the whole
request: middleware, selector, template), interleaved; the certificates of batches released
with a real 'QA Released' signature.

Each database runs in its own worker process against a throwaway data set: a temporary
OPENCDMO_DATA_DIR for SQLite, and on PostgreSQL a database `opencdmo_bench_qc` created and
dropped by this script on the server of OPENCDMO_DATABASE_URL or --postgres URL.

    .venv/bin/python bench/qc.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import harness
from harness import Inserter, log, median, p95, reset_sequences, setup_django

QUICK_HELP = "a twentieth of the batches and results, under a minute"
BENCH_DB = "opencdmo_bench_qc"
WORKLIST_P95_MS_MAX = 200.0
DISPOSITION_P95_MS_MAX = 200.0
COA_S_MAX = 2.0

FULL = {"sponsors": 10, "products_per_sponsor": 5, "batches": 5_000, "criteria": 20, "repeats": 100,
        "coa_batches": 5}
QUICK = {"sponsors": 10, "products_per_sponsor": 5, "batches": 250, "criteria": 20, "repeats": 30,
         "coa_batches": 3}
RELEASED, AWAITING = 0.90, 0.05  # the rest is still in QC testing
OOS_EVERY = 150  # one result in 150 (of a criterion with a numeric limit): OOS, invalidated after Phase I, retested
ENTERED_IN_LAB = 0.75  # of the criteria of a release sample still in the laboratory, entered (awaiting review)
WARMUP = 5
PAGE = 50

# The criteria of a specification, cycled to the size asked: (attribute, method, kind, unit, decimals,
# criterion, lower, upper, conforming values).
CRITERIA = [
    ("Viability", "VIA", "numeric", "%", 1, "at_least", "70", None, ["85.2", "91.7", "78.4", "95.0"]),
    ("CAR expression", "CAR", "numeric", "%", 1, "range", "10", "80", ["34.1", "45.9", "22.6"]),
    ("Endotoxin", "LAL", "numeric", "EU/mL", 2, "at_most", None, "3.5", ["0.25", "0.50", "1.10"]),
    ("Vector copy number", "VCN", "numeric", "copies/cell", 2, "less_than", None, "5", ["1.87", "2.40", "3.05"]),
    ("Mycoplasma", "MYC", "detection", "", None, "not_detected", None, None, ["not detected"]),
    ("Sterility", "STE", "growth", "", None, "not_detected", None, None, ["no growth"]),
    ("Total viable cells", "TVC", "numeric", "cells", 0, "report_only", None, None, ["312000000", "450000000"]),
    ("CD3+ T cells", "CD3", "numeric", "%", 1, "at_least", "80", None, ["92.4", "97.1"]),
    ("Residual beads", "BEAD", "numeric", "beads/10^6 cells", 0, "at_most", None, "100", ["12", "40"]),
    ("Interferon-γ release", "IFN", "numeric", "pg/mL", 0, "at_least", "200", None, ["850", "1210"]),
]
OOS_VALUE = {"Viability": "55.0", "CAR expression": "5.0", "Endotoxin": "4.20", "Vector copy number": "6.10",
             "CD3+ T cells": "61.0", "Residual beads": "240", "Interferon-γ release": "120"}


def build(size: dict) -> dict:
    """The data set (not timed); returns what the measurements need."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from django.db import connection, transaction
    from tests.batches import builders
    from tests.conftest import PASSWORD

    from opencdmo.batches.models import Batch
    from opencdmo.core import signatures
    from opencdmo.core.domain.roles import Role
    from opencdmo.core.models import User
    from opencdmo.core.records import create_record
    from opencdmo.core.signatures import SignatureInput
    from opencdmo.qc import selectors as qc_selectors
    from opencdmo.qc.models import OosInvestigation, Sample, Specification, SpecificationTest, TestMethod, TestResult
    from opencdmo.release.models import Disposition
    from opencdmo.sponsors.models import Product, Program, Sponsor

    rng = random.Random(20261206)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    counts: dict[str, int] = {}

    # The anchor: a site, a room in operation and an effective master batch record, built through the services.
    anchor_sponsor = Sponsor.objects.create(code="ANCHOR", name="Anchor Cell Therapeutics")
    anchor_program = Program.objects.create(sponsor=anchor_sponsor, code="ANCHOR-CD19", name="CD19 CAR-T")
    Product.objects.create(program=anchor_program, code="ANC-101", name="Autologous CD19 CAR-T",
                           modality="autologous_cell", phase="phase_2")
    world = builders.world(anchor_sponsor, batch=False)
    log("  anchor world built through the services")

    sponsors = Sponsor.objects.bulk_create(
        [Sponsor(code=f"S{i:02d}", name=f"Sponsor {i:02d} Cell Therapeutics") for i in range(size["sponsors"])])
    programs = Program.objects.bulk_create(
        [Program(sponsor=s, code=f"{s.code}-ALLO", name="Allogeneic programme") for s in sponsors])
    products = Product.objects.bulk_create(
        [Product(program=p, code=f"{p.sponsor.code}-{k + 1:02d}", name=f"Allogeneic cell therapy {k + 1}",
                 modality="allogeneic_cell", phase="phase_2")
         for p in programs for k in range(size["products_per_sponsor"])])
    sponsor_of = {p.pk: p.program.sponsor_id for p in products}

    everyone = [*sponsors, anchor_sponsor]
    analyst = builders.person("bench.analyst", Role.QC_ANALYST, sponsors=everyone)
    reviewer = builders.person("bench.reviewer", Role.QC_REVIEWER, sponsors=everyone)
    qa = builders.person("bench.qp", Role.QA_APPROVER, sponsors=everyone)
    author = world.qa

    # Methods and 100 specifications of `criteria` criteria each.
    methods = {}
    for attribute, code, kind, unit, decimals, *_ in CRITERIA:
        methods[code] = TestMethod.objects.create(code=f"{code}-01", name=f"{attribute} method", result_kind=kind,
                                                  unit=unit, decimals=decimals,
                                                  turnaround_days=14 if code == "STE" else 1)
    effective = now - dt.timedelta(days=800)
    specs = Specification.objects.bulk_create([
        Specification(number=f"SPEC-B-{n:04d}", status="approved", created_at=effective, created_by=author,
                      modified_at=effective, code=f"{product.code}-{stage.upper()}", revision=1,
                      title=f"{product.name} {stage.replace('_', '-')}", stage=stage, sponsor_id=sponsor_of[product.pk],
                      product=product, effective_at=effective)
        for n, (product, stage) in enumerate(((p, s) for p in products for s in ("release", "in_process")), start=1)])
    tests = SpecificationTest.objects.bulk_create([
        SpecificationTest(specification=spec, position=k + 1, attribute=f"{row[0]}" + (f" ({k // len(CRITERIA) + 1})"
                                                                                      if k >= len(CRITERIA) else ""),
                          method=methods[row[1]], criterion=row[5], lower=row[6], upper=row[7], unit=row[3],
                          may_be_pending_at_release=row[1] == "STE")
        for spec in specs for k, row in ((k, CRITERIA[k % len(CRITERIA)]) for k in range(size["criteria"]))])
    tests = list(SpecificationTest.objects.filter(specification__in=specs).select_related("method", "specification")
                 .order_by("specification_id", "position"))
    tests_of: dict[int, list] = {}
    for test in tests:
        tests_of.setdefault(test.specification_id, []).append(test)
    spec_of = {(s.product_id, s.stage): s.pk for s in specs}
    counts["qc_specification"], counts["qc_specificationtest"] = len(specs), len(tests)

    # Each criterion's conforming values, evaluated once (200,000 evaluations would be the bulk of the build).
    evaluated: dict[tuple, list] = {}
    for test in tests:
        row = CRITERIA[(test.position - 1) % len(CRITERIA)]
        key = (test.method_id, test.criterion, test.lower, test.upper)
        if key not in evaluated:
            evaluated[key] = [(v, qc_selectors.evaluate(test, v)) for v in row[8]]
            if row[0] in OOS_VALUE:
                evaluated[key].append((OOS_VALUE[row[0]], qc_selectors.evaluate(test, OOS_VALUE[row[0]])))
        test.values = evaluated[key]

    # Batches over two years: released, awaiting decision, in QC.
    n = size["batches"]
    span = dt.timedelta(days=730)
    batches = []
    for i in range(n):
        product = products[i % len(products)]
        started = now - span + span * i / n
        fate = "released" if i < n * RELEASED else ("awaiting" if i < n * (RELEASED + AWAITING) else "in_qc")
        if fate == "in_qc":
            started = now - dt.timedelta(days=rng.uniform(8, 14))
        batches.append({"i": i, "id": i + 1, "number": f"B-B{i + 1:05d}", "product": product.pk,
                        "sponsor": sponsor_of[product.pk], "started": started,
                        "completed": started + dt.timedelta(days=9), "fate": fate})
    rows = Inserter(Batch, ["id", "number", "status", "version", "created_at", "created_by_id", "modified_at",
                            "mbr_version_id", "product_id", "sponsor_id", "scale", "scale_unit", "room_id",
                            "patient_reference", "started_at", "completed_at", "reviewed_at"])
    when = rows.when
    counts["batches_batch"] = rows.insert(
        (b["id"], b["number"], "completed" if b["fate"] == "in_qc" else "reviewed", 3, when(b["started"]),
         world.supervisor.pk, when(b["completed"]), world.version.pk, b["product"], b["sponsor"], Decimal("1"),
         "bag", world.room.pk, "", when(b["started"]), when(b["completed"]),
         None if b["fate"] == "in_qc" else when(b["completed"] + dt.timedelta(days=1))) for b in batches)

    # Samples (in-process and release per batch), their ordered criteria, and results.
    sample_rows, through_rows, result_rows, oos = [], [], [], []
    result_id = 0
    for b in batches:
        for stage in ("in_process", "release"):
            sample_id = len(sample_rows) + 1
            spec_id = spec_of[(b["product"], stage)]
            taken = b["started"] + dt.timedelta(days=3 if stage == "in_process" else 9)
            in_lab = b["fate"] == "in_qc" and stage == "release"
            due = taken + dt.timedelta(days=14)
            sample_rows.append((sample_id, f"QCS-B-{sample_id:06d}", "in_testing" if in_lab else "tested", 2,
                                when(taken), analyst.pk, when(taken), "batches.batch", b["number"], b["number"],
                                "batch_sampling", "", b["sponsor"], b["product"], spec_id,
                                f"{stage.replace('_', '-')} sample of {b['number']}", False, when(taken), analyst.pk,
                                when(taken + dt.timedelta(hours=2)), analyst.pk, "QC fridge 2", when(due)))
            for test in tests_of[spec_id]:
                through_rows.append((len(through_rows) + 1, sample_id, test.pk))
                if in_lab and test.position > int(len(tests_of[spec_id]) * ENTERED_IN_LAB):
                    continue  # still to test: on the worklist
                status = "entered" if in_lab else "reviewed"
                entered = taken + dt.timedelta(days=1, minutes=test.position)
                values = test.values
                attempt, retest_of = 1, None
                if values[-1][1].conformance == "does_not_conform" and not in_lab and rng.random() < 1 / OOS_EVERY:
                    result_id += 1
                    value, evaluation = values[-1]
                    result_rows.append(_result(result_id, sample_id, test, value, evaluation, 1, None, "invalidated",
                                               entered, analyst.pk, reviewer.pk, when, qa.pk))
                    oos.append((result_id, b["sponsor"], entered))
                    attempt, retest_of = 2, result_id
                    entered += dt.timedelta(hours=6)
                result_id += 1
                conforming = [v for v in values if v[1].conformance != "does_not_conform"]
                value, evaluation = conforming[result_id % len(conforming)]
                result_rows.append(_result(result_id, sample_id, test, value, evaluation, attempt, retest_of, status,
                                           entered, analyst.pk, reviewer.pk, when, None))
    t0 = time.perf_counter()
    counts["qc_sample"] = Inserter(Sample, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "subject_type",
        "subject_ref", "subject_label", "origin", "origin_ref", "sponsor_id", "product_id", "specification_id",
        "description", "retained", "taken_at", "taken_by_id", "received_at", "received_by_id", "location",
        "due_at"]).insert(iter(sample_rows))
    counts["qc_sample_tests"] = Inserter(Sample.tests.through, ["id", "sample_id", "specificationtest_id"]).insert(
        iter(through_rows))
    counts["qc_testresult"] = Inserter(TestResult, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "sample_id", "test_id",
        "attempt", "retest_of_id", "value", "numeric_value", "reported", "unit", "conformance", "analyst_id", "entered_at",
        "reviewed_at", "reviewed_by_id", "invalidation_reason", "invalidated_at", "invalidated_by_id",
        "submission_id"]).insert(iter(result_rows))
    log(f"  {counts['qc_sample']:,} samples and {counts['qc_testresult']:,} results inserted in "
        f"{time.perf_counter() - t0:.1f} s")
    counts["qc_oosinvestigation"] = Inserter(OosInvestigation, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "result_id", "sponsor_id",
        "opened_by_id", "opened_at", "checklist", "assignable_cause", "phase_one_closed_at", "retests_allowed",
        "conclusion", "summary", "closed_at"]).insert(
        (k, f"OOS-B-{k:05d}", "closed", 3, when(at), reviewer.pk, when(at), rid, sponsor, reviewer.pk, when(at), "[]",
         "Pipetting error confirmed by the supervisor.", when(at + dt.timedelta(hours=3)), 1, "laboratory_error",
         "Laboratory error: result invalidated, retest ordered.", when(at + dt.timedelta(hours=4)))
        for k, (rid, sponsor, at) in enumerate(oos, start=1))

    # Dispositions of the released batches (bulk), except those whose certificate is measured: they are
    # decided and signed 'QA Released' through the signature ceremony.
    released = [b for b in batches if b["fate"] == "released"]
    certified = released[-size["coa_batches"]:]
    bulk = released[:-size["coa_batches"]]
    prerequisites = json.dumps([{"name": "Release tests", "state": "met", "detail": "All criteria within specification."}])
    counts["release_disposition"] = Inserter(Disposition, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "subject_type",
        "subject_ref", "subject_label", "sponsor_id", "prerequisites", "risk_assessment", "pending_tests",
        "decision_comment", "decided_at", "decided_by_id"]).insert(
        (k, f"DSP-B-{k:05d}", "released", 2, when(b["completed"] + dt.timedelta(days=2)), qa.pk,
         when(b["completed"] + dt.timedelta(days=3)), "batches.batch", b["number"], b["number"], b["sponsor"],
         prerequisites, "", "[]", "", when(b["completed"] + dt.timedelta(days=3)), qa.pk)
        for k, b in enumerate(bulk, start=1))
    reset_sequences([Batch, Sample, Sample.tests.through, TestResult, OosInvestigation, Disposition])
    verified = signatures.authenticate_signer(qa, SignatureInput(meaning="QA Released", password=PASSWORD,
                                                                 username=qa.username), first_in_session=True)
    for b in certified:
        with transaction.atomic():
            disposition = create_record(qa, Disposition(
                subject_type="batches.batch", subject_ref=b["number"], subject_label=b["number"],
                sponsor_id=b["sponsor"], status="released", prerequisites=json.loads(prerequisites),
                decided_at=now, decided_by=qa))
            signatures.sign(verified, disposition)
    counts["release_disposition"] += len(certified)
    if connection.vendor == "postgresql":  # what autovacuum does after a load: statistics, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {
        "analyst": User.objects.get(pk=analyst.pk), "qa": User.objects.get(pk=qa.pk), "counts": counts,
        "due": sum(1 for b in batches if b["fate"] == "in_qc"),
        "reviewed": [b["number"] for b in batches if b["fate"] != "in_qc"],
        "certified": [b["number"] for b in certified], "criteria": size["criteria"],
    }


def _result(rid, sample_id, test, value, evaluation, attempt, retest_of, status, entered, analyst, reviewer, when,
            invalidated_by):
    reviewed = status in ("reviewed", "invalidated")
    return (rid, f"RES-B-{rid:07d}", status, 1, when(entered), analyst, when(entered), sample_id, test.pk, attempt,
            retest_of, value, evaluation.number, evaluation.reported, test.unit or test.method.unit, evaluation.conformance, analyst,
            when(entered), when(entered + dt.timedelta(hours=4)) if reviewed else None, reviewer if reviewed else None,
            "Pipetting error: the stained tube was diluted twice." if invalidated_by else "",
            when(entered + dt.timedelta(hours=5)) if invalidated_by else None, invalidated_by, uuid.uuid4().hex)


def _url(name: str, *args) -> str | None:
    """The page's URL, or None while the page does not exist yet (it is built by another part of the issue)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def measure(data: dict, size: dict) -> dict:
    from django.test import Client

    from opencdmo.qc import selectors as qc_selectors
    from opencdmo.release import certificates
    from opencdmo.release import selectors as release_selectors

    analyst, qa = data["analyst"], data["qa"]
    rng = random.Random(7)
    analyst_client, qa_client = Client(), Client()
    analyst_client.force_login(analyst)
    qa_client.force_login(qa)

    def timed(user, call):
        user.forget_cached_access()  # a fresh request: roles and sponsors are read again
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0

    def get(client, url):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        return call

    # Right answers first: the worklist holds every sample due; a disposition page shows the prerequisites.
    due = qc_selectors.worklist(analyst, kind="due")
    if due.count() != data["due"]:
        raise RuntimeError(f"the worklist shows {due.count()} samples due, {data['due']} are in the laboratory")
    first = qc_selectors.worklist_details(due[:PAGE])
    if any(len(s.left) != data["criteria"] - int(data["criteria"] * ENTERED_IN_LAB) for s in first):
        raise RuntimeError("a sample on the worklist does not show the criteria left to test")

    def worklist():
        rows = qc_selectors.worklist(analyst, kind="due")
        rows.count()
        qc_selectors.worklist_details(rows[:PAGE])

    def disposition(number):
        def call():
            batch = release_selectors.batch(qa, number)
            prerequisites = release_selectors.batch_prerequisites(batch)
            if not prerequisites:
                raise RuntimeError(f"no prerequisite shown for {number}")
        return call

    worklist_url = _url("qc:worklist")
    numbers = rng.sample(data["reviewed"], min(len(data["reviewed"]), size["repeats"]))
    pages = {name: _url(name, numbers[0]) is not None for name in ("release:batch",)}
    for number in numbers[:WARMUP]:
        timed(analyst, worklist)
        timed(qa, disposition(number))
    times: dict[str, list] = {"worklist": [], "worklist_page": [], "disposition": [], "disposition_page": []}
    for number in numbers:
        times["worklist"].append(timed(analyst, worklist))
        if worklist_url:
            times["worklist_page"].append(timed(analyst, get(analyst_client, worklist_url)))
        times["disposition"].append(timed(qa, disposition(number)))
        if pages["release:batch"]:
            times["disposition_page"].append(timed(qa, get(qa_client, _url("release:batch", number))))

    coa, sizes = [], []
    for number in data["certified"]:
        def render(number=number):
            pdf = certificates.batch_certificate(qa, number)
            if not pdf.startswith(b"%PDF"):
                raise RuntimeError("the certificate is not a PDF")
            sizes.append(len(pdf))
        coa.append(timed(qa, render))
    out = {name: {"median_ms": median(v) * 1000, "p95_ms": p95(v) * 1000, "max_ms": max(v) * 1000,
                  "repeats": len(v)} for name, v in times.items() if v}
    out["coa"] = {"median_s": median(coa), "max_s": max(coa), "repeats": len(coa),
                  "kb": round(max(sizes) / 1024, 1)}
    out["due"], out["missing_pages"] = data["due"], [name for name, url in
                                                     (("qc:worklist", worklist_url),
                                                      ("release:batch", pages["release:batch"])) if not url]
    return out


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


def _target(targets: dict, name: str, value: float, limit: float, unit: str) -> None:
    targets[name] = {"target": f"< {limit:g} {unit}", "value": round(value, 3), "pass": value < limit}


def main() -> None:
    args = harness.arguments(__doc__, QUICK_HELP)
    if args.worker:
        worker(args)
        return

    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    results = harness.run_on_each_database(__file__, args, BENCH_DB,
                                           "build the data set, time worklist, disposition page and CoA")
    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"QC laboratory and disposition benchmark ({mode} run)", "", "data set (rows per table):"]
    first = next(iter(results.values()))
    for table, rows in first["counts"].items():
        lines.append(f"  {table:<34}{rows:>12,}")
    lines += [f"  samples due on the worklist: {first['measures']['due']:,}", ""]
    header = f"{'database':<11}{'measure':<38}{'median':>10}{'p95':>10}{'max':>10}{'n':>6}"
    lines += [header, "-" * len(header)]
    what = {"worklist": "worklist (due), selector (ms)", "worklist_page": "worklist (due), page (ms)",
            "disposition": "batch disposition, selector (ms)", "disposition_page": "batch disposition, page (ms)"}
    for db, res in results.items():
        measures = res["measures"]
        for name, label in what.items():
            if name not in measures:
                lines.append(f"{db:<11}{label:<38}{'not measured: the page does not exist yet':>46}")
                continue
            t = measures[name]
            lines.append(f"{db:<11}{label:<38}{t['median_ms']:>10.1f}{t['p95_ms']:>10.1f}{t['max_ms']:>10.1f}"
                         f"{t['repeats']:>6}")
            metrics[f"{db}.{name}.median_ms"] = round(t["median_ms"], 2)
            metrics[f"{db}.{name}.p95_ms"] = round(t["p95_ms"], 2)
            limit = WORKLIST_P95_MS_MAX if name.startswith("worklist") else DISPOSITION_P95_MS_MAX
            _target(targets, f"{db}.{name}.p95_ms", t["p95_ms"], limit, "ms")
        c = measures["coa"]
        lines.append(f"{db:<11}{'certificate of analysis PDF (s)':<38}{c['median_s']:>10.2f}{'':>10}{c['max_s']:>10.2f}"
                     f"{c['repeats']:>6}")
        metrics[f"{db}.coa.median_s"] = round(c["median_s"], 3)
        metrics[f"{db}.coa.max_s"] = round(c["max_s"], 3)
        _target(targets, f"{db}.coa.max_s", c["max_s"], COA_S_MAX, "s")
        metrics[f"{db}.rows"] = res["counts"]
        metrics[f"{db}.build_s"] = round(res["build_s"], 1)
        metrics[f"{db}.load_1min"] = round(res["load"], 2)
        if measures["missing_pages"]:
            metrics[f"{db}.missing_pages"] = measures["missing_pages"]
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
