"""Benchmark: the quality system's pages on a CDMO's years of records (issue "quality management").

Targets (per database)
  1. the quality dashboard and each list page (deviations, CAPA, change control, documents,
     training), filtered, sorted and paginated, answer p95 < 300 ms;
  2. `training.selectors.is_trained(user, document, at)` answers in < 2 ms (p95).

The data set (full run; --quick builds a tenth of the records, the same number of users):

  deviations       20,000  over five years, every state, class, area, category and root cause
  CAPAs            10,000  with 25,000 actions; half linked to a deviation
  change controls   2,000  with impacts and tasks
  documents         2,000  with 3,000 versions (1,000 superseded)
  training            300  users with every curriculum document assigned (~60,000 assignments)

The data set is bulk-inserted (executemany on SQLite, COPY on PostgreSQL) and not timed;
PostgreSQL is then VACUUM ANALYZEd, as autovacuum would after such a load. What is timed is
one whole request through Django's test client (URL routing, middleware, session, sponsor
scoping, queries, template) by a QA specialist who sees every sponsor, and one call of
`is_trained` with the user's caches cleared, for random (user, document) pairs.

    .venv/bin/python bench/quality.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

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

QUICK_HELP = "a tenth of the records, about a minute"
BENCH_DB = "opencdmo_bench_quality"
PAGE_P95_MS_MAX = 300.0
IS_TRAINED_P95_MS_MAX = 2.0

FULL = {"deviations": 20_000, "capas": 10_000, "changes": 2_000, "documents": 2_000, "users": 300,
        "page_repeats": 40, "is_trained_calls": 2_000}
QUICK = {"deviations": 2_000, "capas": 1_000, "changes": 200, "documents": 200, "users": 300,
         "page_repeats": 15, "is_trained_calls": 500}
SPONSORS = 8
ACTIONS_PER_CAPA = 2.5
REPORTS = {"deviation trend report (4 charts)": "quality:deviation_trends"}
CURRICULUM_DOCUMENTS = 200  # documents every user is trained on (of which ~60 per role)

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
YEARS = 5
SPAN_S = YEARS * 365 * 86_400
AREAS = ["Grade B suite 1", "Grade B suite 2", "Grade C prep", "Warehouse", "QC micro lab", "QC cell lab",
         "Cryostore", "Grade D corridor"]
CATEGORIES = ["documentation", "equipment", "material", "process", "environment", "personnel", "system"]
ROOT_CAUSES = ["human_error", "procedure", "equipment", "material", "method", "environment", "unknown"]


def _moment(rng) -> dt.datetime:
    return NOW - dt.timedelta(seconds=int(rng.random() ** 1.5 * SPAN_S))


# --------------------------------------------------------------------------------------------
# Worker side: runs inside Django against one database.
# --------------------------------------------------------------------------------------------


def build(size: dict) -> dict:
    from django.db import connection

    from opencdmo.core.domain.roles import Role
    from opencdmo.core.models import RoleGrant, User
    from opencdmo.quality.models import (
        Capa,
        CapaAction,
        ChangeControl,
        ChangeImpact,
        ChangeTask,
        Deviation,
        DeviationCapa,
        DeviationLink,
    )
    from opencdmo.sponsors.models import Sponsor

    rng = random.Random(4)
    sponsors = Sponsor.objects.bulk_create(
        [Sponsor(code=f"SP{i:02d}", name=f"Sponsor {i:02d}") for i in range(SPONSORS)])
    sponsor_ids = [s.pk for s in sponsors]
    roles = [Role.OPERATOR, Role.OPERATOR, Role.OPERATOR, Role.SUPERVISOR, Role.QC_ANALYST, Role.QC_REVIEWER,
             Role.QA_SPECIALIST, Role.MATERIAL_HANDLER, Role.PD_SCIENTIST]
    users = [User(username=f"user{i:03d}", full_name=f"Staff Member {i:03d}") for i in range(size["users"])]
    for u in users:
        u.set_unusable_password()
    users = User.objects.bulk_create(users)
    RoleGrant.objects.bulk_create([RoleGrant(user=u, role=roles[i % len(roles)].value) for i, u in enumerate(users)])
    qa = User(username="qa.reader", full_name="QA Reader")
    qa.set_unusable_password()
    qa.save()
    for role in (Role.QA_SPECIALIST, Role.QA_APPROVER):
        RoleGrant.objects.create(user=qa, role=role.value)
    qa.sponsors.set(sponsor_ids)
    user_ids = [u.pk for u in users]
    counts: dict[str, int] = {}

    def sponsor_or_none():
        return rng.choice(sponsor_ids) if rng.random() < 0.7 else None

    # Deviations, in every state of their workflow; the older, the likelier closed.
    t0 = time.perf_counter()
    dev = Inserter(Deviation, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "title", "description",
        "source", "sponsor_id", "raised_by_id", "raised_at", "area", "category", "classification",
        "root_cause_category", "due_date", "closed_at", "investigator_id"])
    dev_rows = []
    for i in range(1, size["deviations"] + 1):
        raised = _moment(rng)
        age_days = (NOW - raised).days
        status = "closed" if age_days > 60 or rng.random() < 0.3 else rng.choice(
            ["open", "investigation", "investigation", "pending_closure", "cancelled"])
        classified = status != "open"
        klass = rng.choice(["minor", "minor", "major", "critical"]) if classified else ""
        due = (raised + dt.timedelta(days=30)).date()
        closed = raised + dt.timedelta(days=rng.randint(5, 45)) if status == "closed" else None
        dev_rows.append((
            i, f"DEV-{raised.year}-{i:05d}", status, 3, dev.when(raised), rng.choice(user_ids), dev.when(raised),
            f"{rng.choice(CATEGORIES).capitalize()} event in {rng.choice(AREAS)} #{i}",
            "What happened, where and when, as the person who saw it described it.",
            rng.choice(Deviation.Source.values), sponsor_or_none(), rng.choice(user_ids), dev.when(raised),
            rng.choice(AREAS), rng.choice(CATEGORIES), klass,
            rng.choice(ROOT_CAUSES) if status in ("pending_closure", "closed") else "", due,
            dev.when(closed) if closed else None, rng.choice(user_ids) if classified else None))
    counts["quality_deviation"] = dev.insert(dev_rows)
    link = Inserter(DeviationLink, ["id", "deviation_id", "record_type", "record_id", "record_label"])
    counts["quality_deviationlink"] = link.insert(
        (i, i, "materials.lot", str(i), f"LOT-{i:06d}") for i in range(1, size["deviations"] + 1))

    # CAPAs with their actions; half of them raised from a deviation.
    capa = Inserter(Capa, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "title", "problem",
        "source", "sponsor_id", "owner_id", "due_date", "effectiveness_result", "closed_at"])
    action = Inserter(CapaAction, ["id", "capa_id", "kind", "description", "owner_id", "due_date", "status"])
    capa_rows, action_rows, capa_links = [], [], []
    for i in range(1, size["capas"] + 1):
        created = _moment(rng)
        status = "closed" if (NOW - created).days > 120 else rng.choice(
            ["draft", "implementing", "implementing", "effectiveness_check"])
        capa_rows.append((
            i, f"CAPA-{created.year}-{i:05d}", status, 2, capa.when(created), rng.choice(user_ids),
            capa.when(created), f"Prevent recurrence #{i}", "Root cause and the problem it caused.",
            rng.choice(Capa.Source.values), sponsor_or_none(), rng.choice(user_ids),
            (created + dt.timedelta(days=60)).date(), "effective" if status == "closed" else "",
            capa.when(created + dt.timedelta(days=110)) if status == "closed" else None))
        for _ in range(int(ACTIONS_PER_CAPA) + (rng.random() < ACTIONS_PER_CAPA % 1)):
            action_rows.append((
                len(action_rows) + 1, i, rng.choice(CapaAction.Kind.values), "Update the SOP and retrain.",
                rng.choice(user_ids), (created + dt.timedelta(days=rng.randint(10, 60))).date(),
                "verified" if status == "closed" else rng.choice(CapaAction.Status.values)))
        if i % 2 == 0:
            capa_links.append((len(capa_links) + 1, rng.randint(1, size["deviations"]), i))
    counts["quality_capa"] = capa.insert(capa_rows)
    counts["quality_capaaction"] = action.insert(action_rows)
    counts["quality_deviationcapa"] = Inserter(DeviationCapa, ["id", "deviation_id", "capa_id"]).insert(capa_links)

    # Change controls with impacts and implementation tasks.
    change = Inserter(ChangeControl, [
        "id", "number", "status", "version", "created_at", "created_by_id", "modified_at", "title", "description",
        "justification", "kind", "classification", "proposed_by_id", "sponsor_id", "closed_at"])
    impact = Inserter(ChangeImpact, ["id", "change_id", "area", "record_type", "record_id", "record_label",
                                     "sponsor_id", "assessment"])
    task = Inserter(ChangeTask, ["id", "change_id", "description", "owner_id", "due_date", "done",
                                 "record_type", "record_id", "record_label"])
    change_rows, impact_rows, task_rows = [], [], []
    for i in range(1, size["changes"] + 1):
        created = _moment(rng)
        status = "closed" if (NOW - created).days > 150 else rng.choice(
            ["draft", "assessment", "awaiting_approval", "approved", "implementation"])
        sponsor = sponsor_or_none()
        change_rows.append((
            i, f"CC-{created.year}-{i:04d}", status, 2, change.when(created), rng.choice(user_ids),
            change.when(created), f"Change #{i}", "From what to what.", "Why it is needed.",
            rng.choice(ChangeControl.Kind.values), rng.choice(["minor", "major"]), rng.choice(user_ids), sponsor,
            change.when(created + dt.timedelta(days=90)) if status == "closed" else None))
        for area in rng.sample(ChangeImpact.Area.values, 3):
            impact_rows.append((len(impact_rows) + 1, i, area, "", "", "", sponsor, "Assessed: impact described."))
        task_rows.append((len(task_rows) + 1, i, "Revise the document", rng.choice(user_ids),
                          (created + dt.timedelta(days=60)).date(), status == "closed", "", "", ""))
    counts["quality_changecontrol"] = change.insert(change_rows)
    counts["quality_changeimpact"] = impact.insert(impact_rows)
    counts["quality_changetask"] = task.insert(task_rows)
    reset_sequences([Deviation, DeviationLink, Capa, CapaAction, DeviationCapa, ChangeControl, ChangeImpact,
                     ChangeTask])
    log(f"  quality records inserted in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    documents = build_documents_and_training(size, rng, users, user_ids, sponsor_ids, counts)
    log(f"  documents and training inserted in {time.perf_counter() - t0:.1f} s")

    if connection.vendor == "postgresql":  # what autovacuum does after a load: statistics, visibility map
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"qa": qa, "users": users, "documents": documents, "counts": counts}


def build_documents_and_training(size, rng, users, user_ids, sponsor_ids, counts) -> list:
    """Documents with their version history (one in two revised: v1.0 superseded by v2.0, one
    in ten of those revisions editorial, so training on v1.0 still counts), and every user's
    training on the curriculum documents: most completed, some open, some overdue."""
    from opencdmo.documents.domain.rules import PREFIXES, document_number
    from opencdmo.documents.models import Document, DocumentVersion
    from opencdmo.training.models import TrainingAssignment

    types = list(PREFIXES)
    doc = Inserter(Document, ["id", "number", "status", "version", "created_at", "created_by_id", "modified_at",
                              "doc_type", "title", "owner_id", "sponsor_id", "review_interval_months",
                              "next_review_due"])
    ver = Inserter(DocumentVersion, ["id", "number", "status", "version", "created_at", "created_by_id",
                                     "modified_at", "document_id", "major", "minor", "effective_date",
                                     "effective_from", "content", "change_summary", "training_required"])
    doc_rows, ver_rows, history = [], [], {}
    for i in range(1, size["documents"] + 1):
        doc_type = types[i % len(types)]
        number = document_number(doc_type, i)
        created = _moment(rng)
        doc_rows.append((i, number, "active", 1, doc.when(created), rng.choice(user_ids), doc.when(created),
                         doc_type, f"Procedure {i}", rng.choice(user_ids),
                         rng.choice(sponsor_ids) if rng.random() < 0.1 else None, 24,
                         (created + dt.timedelta(days=730)).date()))
        revised = i % 2 == 0
        versions = [(1, 0, created, True)]
        if revised:
            versions.append((2, 0, created + (NOW - created) / 2, i % 20 != 0))
        history[i] = []
        for n, (major, minor, when, training) in enumerate(versions):
            status = "superseded" if n + 1 < len(versions) else "effective"
            ver_id = len(ver_rows) + 1
            ver_rows.append((ver_id, f"{number}-v{major}.{minor}", status, 3, ver.when(when), rng.choice(user_ids),
                             ver.when(when), i, major, minor, when.date(), ver.when(when), "Purpose, scope, steps.",
                             "Revision" if n else "New document", training))
            history[i].append((ver_id, when))
    counts["documents_document"] = doc.insert(doc_rows)
    counts["documents_documentversion"] = ver.insert(ver_rows)

    curriculum = rng.sample(range(1, size["documents"] + 1), min(CURRICULUM_DOCUMENTS, size["documents"]))
    assign = Inserter(TrainingAssignment, ["id", "number", "status", "user_id", "document_version_id", "due_date",
                                           "completed_at", "method", "passed", "assigned_at"])

    def assignments():
        n = 0
        for user in users:
            for document_id in rng.sample(curriculum, len(curriculum) * 3 // 10):
                for ver_id, when in history[document_id]:
                    n += 1
                    due = (when + dt.timedelta(days=30)).date()
                    done = rng.random() < 0.92
                    yield (n, f"TRN-{n:07d}", "completed" if done else "assigned", user.pk, ver_id, due,
                           assign.when(when + dt.timedelta(days=rng.randint(1, 29))) if done else None,
                           "read_and_understood" if done else "", True if done else None, assign.when(when))

    counts["training_trainingassignment"] = assign.insert(assignments())
    reset_sequences([Document, DocumentVersion, TrainingAssignment])
    return [(user_id, document_id) for user_id in user_ids for document_id in rng.sample(curriculum, 5)]


def measure(data: dict, size: dict) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(data["qa"])
    timings = {}
    for name, url in [*pages(), *reports()]:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        for _ in range(2):  # warm-up: template loading, first connection use
            client.get(url)
        samples = []
        for _ in range(size["page_repeats"]):
            t0 = time.perf_counter()
            client.get(url)
            samples.append(time.perf_counter() - t0)
        timings[name] = {"url": url, "median_ms": median(samples) * 1000, "p95_ms": p95(samples) * 1000,
                         "max_ms": max(samples) * 1000, "repeats": len(samples)}
        log(f"  {name:<38} median {timings[name]['median_ms']:7.1f} ms, p95 {timings[name]['p95_ms']:7.1f} ms")
    return {"pages": timings, "is_trained": measure_is_trained(data, size)}


def pages() -> list[tuple[str, str]]:
    """The pages timed: (name, URL). Each list three ways: as opened, filtered and sorted, deep page."""
    from django.urls import reverse

    deviations, capas, changes = reverse("quality:deviations"), reverse("quality:capas"), reverse("quality:changes")
    documents = reverse("documents:list")
    return [
        ("quality dashboard", reverse("quality:dashboard")),
        ("deviations", deviations),
        ("deviations, filtered and sorted", f"{deviations}?status=investigation&classification=major&sort=due"),
        ("deviations, overdue, searched", f"{deviations}?overdue=1&q=Grade"),
        ("deviations, page 100", f"{deviations}?page=100"),
        ("CAPAs", capas),
        ("CAPAs, filtered and sorted", f"{capas}?status=implementing&sort=due"),
        ("CAPAs, page 100", f"{capas}?page=100"),
        ("change controls", changes),
        ("change controls, filtered and sorted", f"{changes}?status=closed&sort=-target"),
        ("documents", documents),
        ("documents, filtered and sorted", f"{documents}?type=sop&sort=-number"),
        ("training overdue", reverse("training:overdue")),
    ]


def reports() -> list[tuple[str, str]]:
    """Pages timed and reported without a target: not lists, but reports that draw charts."""
    from django.urls import reverse

    return [(name, reverse(url_name)) for name, url_name in REPORTS.items()]


def measure_is_trained(data: dict, size: dict) -> dict:
    """One call per random (user, document) pair of the curriculum, at a random instant of the
    last five years."""
    from opencdmo.core.models import User
    from opencdmo.documents.models import Document
    from opencdmo.training.selectors import is_trained

    rng = random.Random(11)
    users = {u.pk: u for u in User.objects.all()}
    documents = {d.pk: d for d in Document.objects.all()}
    pairs = [(users[u], documents[d]) for u, d in data["documents"]]
    samples, trained = [], 0
    for _ in range(size["is_trained_calls"]):
        user, document = rng.choice(pairs)
        at = _moment(rng)
        user.forget_cached_access()
        t0 = time.perf_counter()
        answer = is_trained(user, document, at)
        samples.append(time.perf_counter() - t0)
        trained += answer
    return {"median_ms": median(samples) * 1000, "p95_ms": p95(samples) * 1000, "max_ms": max(samples) * 1000,
            "repeats": len(samples), "trained_share": trained / len(samples)}


def worker(args) -> None:
    from django.db import connection

    size = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    setup_django()
    data = build(size)
    build_s = time.perf_counter() - t0
    log(f"  data set built in {build_s:.1f} s (not measured)")
    load_before = os.getloadavg()[0]
    measured = measure(data, size)
    result = {"vendor": connection.vendor, "build_s": build_s, "counts": data["counts"], **measured,
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
    results = harness.run_on_each_database(__file__, args, BENCH_DB, "build the data set, time the pages")

    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"Quality system benchmark ({mode} run)", "", "data set (rows per table):"]
    first = next(iter(results.values()))
    for table, rows in first["counts"].items():
        lines.append(f"  {table:<34}{rows:>10,}")
    lines.append("")
    header = f"{'database':<11}{'page':<44}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'repeats':>9}"
    lines += [header, "-" * len(header)]
    for db, res in results.items():
        for name, t in res["pages"].items():
            key = f"{db}.{name.replace(' ', '_').replace(',', '')}"
            metrics[f"{key}.median_ms"] = round(t["median_ms"], 2)
            metrics[f"{key}.p95_ms"] = round(t["p95_ms"], 2)
            if name not in REPORTS:
                targets[f"{key}.p95_ms"] = {"target": f"< {PAGE_P95_MS_MAX:g}", "value": round(t["p95_ms"], 2),
                                            "pass": t["p95_ms"] < PAGE_P95_MS_MAX}
            lines.append(f"{db:<11}{name + (' [no target]' if name in REPORTS else ''):<44}{t['median_ms']:>11.1f}{t['p95_ms']:>9.1f}{t['max_ms']:>9.1f}"
                         f"{t['repeats']:>9}")
        if t := res["is_trained"]:
            metrics[f"{db}.is_trained.median_ms"] = round(t["median_ms"], 3)
            metrics[f"{db}.is_trained.p95_ms"] = round(t["p95_ms"], 3)
            targets[f"{db}.is_trained.p95_ms"] = {"target": f"< {IS_TRAINED_P95_MS_MAX:g}",
                                                  "value": round(t["p95_ms"], 3),
                                                  "pass": t["p95_ms"] < IS_TRAINED_P95_MS_MAX}
            lines.append(f"{db:<11}{'is_trained(user, document, at)':<44}{t['median_ms']:>11.3f}"
                         f"{t['p95_ms']:>9.3f}{t['max_ms']:>9.3f}{t['repeats']:>9}")
        metrics[f"{db}.build_s"] = round(res["build_s"], 1)
        metrics[f"{db}.load_1min"] = round(res["load"], 2)
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (set OPENCDMO_DATABASE_URL or --postgres URL)")
    loads = ", ".join(f"{db} {res['load']:.1f}" for db, res in results.items())
    lines.append(f"\nmachine load while measuring (1-min load average; wall-clock times include waiting for a "
                 f"CPU): {loads} on {os.cpu_count()} CPUs\n")
    for name, t in targets.items():
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {name}: {t['value']:g} (target {t['target']})")
    metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
    lines.append(f"\ntotal {metrics['elapsed_s']} s")
    print("\n".join(lines))
    print(json.dumps({"metrics": metrics, "targets": targets, "pass": all(t["pass"] for t in targets.values())}))


if __name__ == "__main__":
    main()
