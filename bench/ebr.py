"""Benchmark: executing an electronic batch record through the API (issue "batch records").

Targets (per database)
  1. each parameter entry, POSTed through /api/v1 as an operator would (interlocks, range
     checks, exceptions, audit trail, calculated values), answers p95 < 100 ms;
  2. the batch record PDF of that batch renders in < 3 s;
  3. the review-by-exception page of that batch answers p95 < 300 ms.

The batch (full run; --quick runs 15 steps and 100 entries through the same code):

  a master batch record of 60 steps in 10 stages, made effective under change control, with
  400 entered parameters (NOR and PAR on every number), one calculated parameter per stage,
  an SOP the operators are trained on every third step, a biosafety cabinet scanned at every
  step, a vector lot consumed every fifth step (inventory and genealogy), a sampling point every
  tenth step, second-person verification on a critical parameter of every other step, and
  values outside the normal range (with a comment) and outside the acceptable range (each
  raising a deviation) as a real batch has them.

Everything is built and executed through the services and the API, with the production
password hasher: the world is not timed; each step's start, scans, material use, samples,
entries, verifications (by a second operator) and completion (signed 'Performed') are real
requests through Django's test client. Only entry requests count toward target 1. After the
batch is completed, a QA specialist opens the review page (timed, repeated) and the PDF
(timed, repeated).

    .venv/bin/python bench/ebr.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import harness
from harness import log, median, p95, setup_django

QUICK_HELP = "15 steps and 100 entries, about a minute"
BENCH_DB = "opencdmo_bench_ebr"
ENTRY_P95_MS_MAX = 100.0
PDF_S_MAX = 3.0
REVIEW_P95_MS_MAX = 300.0

FULL = {"stages": 10, "steps_per_stage": 6, "entries": 400, "review_repeats": 30, "pdf_repeats": 3}
QUICK = {"stages": 3, "steps_per_stage": 5, "entries": 100, "review_repeats": 10, "pdf_repeats": 1}
OUTSIDE_NORMAL_EVERY = 25  # one entry in 25 is outside its normal range (an exception with a comment)
OUTSIDE_ACCEPTABLE = 2  # entries outside the acceptable range (each raises a deviation)


def definition(size: dict, *, product: str, sop: str, material: str, equipment: str):
    """A master batch record of stages × steps whose parameters add up to `entries`."""
    from opencdmo.processes.domain.definition import (
        Definition,
        Instruction,
        MaterialLine,
        Parameter,
        Range,
        SamplingPoint,
        Stage,
        Step,
    )

    total_steps = size["stages"] * size["steps_per_stage"]
    per_step, extra = divmod(size["entries"], total_steps)
    stages, n = [], 0
    for s in range(size["stages"]):
        steps = []
        for k in range(size["steps_per_stage"]):
            count = per_step + (1 if n < extra else 0)
            parameters = [
                Parameter(id=f"p{n}_{j}", label=f"Reading {j + 1} of step {n + 1}", type="number", unit="%",
                          decimals=1, target="50.0", normal=Range(Decimal(40), Decimal(60)),
                          acceptable=Range(Decimal(30), Decimal(70)), criticality="cpp" if j == 0 else "ipc",
                          verify=j == 0 and n % 2 == 0)
                for j in range(count)]
            if k == size["steps_per_stage"] - 1:  # each stage ends with a calculated yield
                parameters.append(Parameter(id=f"yield{s}", label="Stage yield", type="calculated", unit="%",
                                            decimals=1, formula=f"p{n}_0 * 2 - p{n}_1",
                                            acceptable=Range(Decimal(0), Decimal(200))))
            steps.append(Step(
                id=f"S{s + 1}.{k + 1}", name=f"Operation {n + 1}", after=(f"S{s + 1}.{k}",) if k else (
                    (f"S{s}.{size['steps_per_stage']}",) if s else ()),
                sops=(sop,) if n % 3 == 0 else (), equipment=(equipment,),
                materials=(MaterialLine(material, "2 * scale", "mL"),) if n % 5 == 0 else (),
                samples=(SamplingPoint(f"SP-{n}", f"In-process sample {n}", Decimal(1), "mL"),) if n % 10 == 0
                else (),
                instructions=(Instruction(f"Perform operation {n + 1} and record the readings.", tuple(parameters)),),
            ))
            n += 1
        stages.append(Stage(id=f"S{s + 1}", name=f"Stage {s + 1}", steps=tuple(steps)))
    return Definition(product=product, title=f"Benchmark process, {total_steps} steps", scale_unit="L", stages=tuple(stages))


def build(size: dict) -> dict:
    """The world (through the test builders, which use only services) and a planned batch of
    the big master batch record."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.batches import builders
    from tests.processes.builders import effective_version

    from opencdmo.sponsors.models import Product, Program, Sponsor

    sponsor = Sponsor.objects.create(code="BENCH", name="Bench Cell Therapeutics")
    program = Program.objects.create(sponsor=sponsor, code="BENCH-CD19", name="CD19 CAR-T")
    Product.objects.create(program=program, code="BEN-101", name="Autologous CD19 CAR-T", modality="autologous_cell",
                           phase="phase_2")
    world = builders.world(sponsor, batch=False)
    big = definition(size, product="BEN-101", sop=world.sop.number, material=world.material.code,
                     equipment=world.equipment.kind)
    world.version = effective_version(world.supervisor, world.qa_approver, world.product, big,
                                      mbr=world.version.mbr)
    world.batch = builders.plan(world)
    return {"world": world, "definition": big, "builders": builders}


class Api:
    """One signed-in person's requests to /api/v1, failing loudly on any unexpected status."""

    def __init__(self, user):
        from django.test import Client

        self.client = Client()
        self.client.force_login(user)
        self.user = user

    def post(self, path: str, body: dict | None = None, *, expect=(200, 201)) -> dict:
        response = self.client.post(f"/api/v1{path}", json.dumps(body or {}), content_type="application/json")
        if response.status_code not in expect:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.content[:300]!r}")
        return response.json()

    def signature(self) -> dict:
        from tests.conftest import PASSWORD

        return {"username": self.user.username, "password": PASSWORD}


def _value(parameter, n: int, outside_acceptable: set[int]) -> tuple[str, str]:
    """(value, comment): within the normal range, now and then outside it, twice outside PAR."""
    if n in outside_acceptable:
        return "75.0", "Reading above the acceptable range; supervisor informed."
    if n % OUTSIDE_NORMAL_EVERY == OUTSIDE_NORMAL_EVERY - 1:
        return "62.5", "Slightly above the normal range; within the acceptable range."
    return f"{45 + (n % 100) / 10:.1f}", ""


def execute(data: dict, size: dict) -> dict:
    """Run every step through the API; time each entry request."""
    world, big = data["world"], data["definition"]
    operator, verifier = Api(world.operator), Api(world.second_operator)
    number = world.batch.number
    operator.post(f"/batches/{number}/start", {})
    outside_acceptable = {size["entries"] // 3, 2 * size["entries"] // 3}
    entry_times, n = [], 0
    started = time.perf_counter()
    for step in big.steps():
        base = f"/batches/{number}/steps/{step.id}"
        operator.post(f"{base}/start")
        for _ in step.equipment:
            operator.post(f"{base}/equipment", {"scanned": world.equipment.number, "submission_id": uuid.uuid4().hex})
        for line, _ in enumerate(step.materials):
            operator.post(f"{base}/materials", {"line": line, "lot": world.lot.number,
                                                "submission_id": uuid.uuid4().hex})
        for point in step.samples:
            operator.post(f"{base}/samples", {"point": point.id, "submission_id": uuid.uuid4().hex})
        to_verify = []
        for parameter in step.parameters:
            if parameter.type == "calculated":
                continue
            value, comment = _value(parameter, n, outside_acceptable)
            t0 = time.perf_counter()
            entry = operator.post(f"{base}/entries", {"parameter": parameter.id, "value": value, "comment": comment,
                                                      "submission_id": uuid.uuid4().hex})
            entry_times.append(time.perf_counter() - t0)
            if parameter.verify:
                to_verify.append(entry["id"])
            n += 1
        for entry_id in to_verify:
            verifier.post(f"/batches/{number}/entries/{entry_id}/verification", verifier.signature())
        operator.post(f"{base}/complete", operator.signature())
    operator.post(f"/batches/{number}/complete", operator.signature())
    executed_s = time.perf_counter() - started
    log(f"  executed {n} entries in {executed_s:.1f} s: median {median(entry_times) * 1000:.1f} ms, "
        f"p95 {p95(entry_times) * 1000:.1f} ms per entry")
    return {"entry_times": entry_times, "entries": n, "executed_s": executed_s}


def timed_get(client, url: str, repeats: int) -> list[float]:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        client.get(url)
        samples.append(time.perf_counter() - t0)
    return samples


def measure(data: dict, size: dict) -> dict:
    from django.test import Client
    from django.urls import reverse

    from opencdmo.batches.models import BatchEntry, BatchException
    from opencdmo.core.models import AuditEvent, Signature
    from opencdmo.materials.models import GenealogyLink
    from opencdmo.quality.models import Deviation

    run = execute(data, size)
    batch = data["world"].batch
    qa = Client()
    qa.force_login(data["world"].qa)
    review = timed_get(qa, reverse("batches:review", args=[batch.number]), size["review_repeats"])
    log(f"  review page: median {median(review) * 1000:.1f} ms, p95 {p95(review) * 1000:.1f} ms")
    pdf = timed_get(qa, reverse("batches:record_pdf", args=[batch.number]), size["pdf_repeats"])
    log(f"  batch record PDF: median {median(pdf):.2f} s, max {max(pdf):.2f} s")
    return {
        "entry": {"median_ms": median(run["entry_times"]) * 1000, "p95_ms": p95(run["entry_times"]) * 1000,
                  "max_ms": max(run["entry_times"]) * 1000, "count": run["entries"]},
        "executed_s": run["executed_s"],
        "review": {"median_ms": median(review) * 1000, "p95_ms": p95(review) * 1000, "repeats": len(review)},
        "pdf": {"median_s": median(pdf), "max_s": max(pdf), "repeats": len(pdf)},
        "counts": {
            "steps": batch.steps.count(),
            "entries (with calculated values)": BatchEntry.objects.filter(batch=batch).count(),
            "exceptions": BatchException.objects.filter(batch=batch).count(),
            "deviations raised": Deviation.objects.filter(source="batch_exception").count(),
            "genealogy links": GenealogyLink.objects.count(),
            "signatures": Signature.objects.count(),
            "audit events": AuditEvent.objects.count(),
        },
    }


def worker(args) -> None:
    setup_django()
    from opencdmo.core import context

    size = QUICK if args.quick else FULL
    with context.action(client_address="127.0.0.1"):
        t0 = time.perf_counter()
        log("  building the world and the 60-step master batch record (not timed)")
        data = build(size)
        build_s = time.perf_counter() - t0
        result = measure(data, size)
    result["build_s"] = build_s
    result["load"] = os.getloadavg()[0]
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
    results = harness.run_on_each_database(__file__, args, BENCH_DB, "build the batch, execute it through the API")

    metrics: dict = {"mode": mode}
    targets: dict = {}
    lines = [f"Electronic batch record benchmark ({mode} run)", "", "the executed batch:"]
    for name, count in next(iter(results.values()))["counts"].items():
        lines.append(f"  {name:<34}{count:>10,}")
    lines.append("")
    header = f"{'database':<11}{'measure':<34}{'median':>10}{'p95':>10}{'max':>10}{'n':>7}"
    lines += [header, "-" * len(header)]
    for db, res in results.items():
        e, r, p = res["entry"], res["review"], res["pdf"]
        lines.append(f"{db:<11}{'entry through the API (ms)':<34}{e['median_ms']:>10.1f}{e['p95_ms']:>10.1f}"
                     f"{e['max_ms']:>10.1f}{e['count']:>7}")
        lines.append(f"{db:<11}{'review-by-exception page (ms)':<34}{r['median_ms']:>10.1f}{r['p95_ms']:>10.1f}"
                     f"{'':>10}{r['repeats']:>7}")
        lines.append(f"{db:<11}{'batch record PDF (s)':<34}{p['median_s']:>10.2f}{'':>10}{p['max_s']:>10.2f}"
                     f"{p['repeats']:>7}")
        metrics.update({f"{db}.entry.median_ms": round(e["median_ms"], 2), f"{db}.entry.p95_ms": round(e["p95_ms"], 2),
                        f"{db}.review.p95_ms": round(r["p95_ms"], 2), f"{db}.pdf.max_s": round(p["max_s"], 3),
                        f"{db}.executed_s": round(res["executed_s"], 1), f"{db}.build_s": round(res["build_s"], 1),
                        f"{db}.load_1min": round(res["load"], 2)})
        _target(targets, f"{db}.entry.p95_ms", e["p95_ms"], ENTRY_P95_MS_MAX, "ms")
        _target(targets, f"{db}.pdf.max_s", p["max_s"], PDF_S_MAX, "s")
        _target(targets, f"{db}.review.p95_ms", r["p95_ms"], REVIEW_P95_MS_MAX, "ms")
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
