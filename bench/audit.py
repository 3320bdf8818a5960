"""Benchmark: the cost of the audit trail (DESIGN.md "Benchmarks", "The compliance kernel").

Targets
  1. audited single-record update tx/s >= 50 % of plain single-row update tx/s, with 1 and 8
     concurrent writers (threads, one connection each, each on its own rows), per database;
  2. the same audited update through django-simple-history is no faster than ours
     (ours / simple-history >= 1.0, 1 writer), per database;
  3. `verify_audit_trail()` checks >= 200,000 events/s on SQLite (1,000,000 events in < 5 s).

"Plain"          : atomic { select_for_update row; set a field; save(update_fields) }
"Audited"        : atomic { select_for_update row; records.update_record(actor, obj, f=v) }
"simple-history" : atomic { select_for_update row; set a field, _history_user and
                   _change_reason; save() }  (HistoricalRecords on the same record shape; no
                   full_clean, which update_record does: the comparison leans its way)
The models live in the bench-only app bench/benchapp (settings: bench/settings.py).

The verified trail (1,000,000 events in the full run, 32 lanes, realistic content) is written
with the audit writer's own domain functions (chain.event_hash, sealed heads) in big
transactions; building it is not measured, only `verify_audit_trail()` on it.

Every comparison is measured in the same run on the same database, in rounds interleaved
(the order rotates from repeat to repeat) and reported as the median of the per-repeat
ratios; absolute figures are medians and p95 over the repeats / transactions.

Each database runs in its own worker process (Django settings are per process) against a
throwaway data set: a temporary OPENCDMO_DATA_DIR for SQLite, and on PostgreSQL a database
`opencdmo_bench` created and dropped by this script on the server of OPENCDMO_DATABASE_URL
or --postgres URL.

    .venv/bin/python bench/audit.py [--quick] [--postgres postgres://postgres@127.0.0.1:5432/x]

The last line printed is one JSON object: {"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import harness
from harness import log, median, p95, postgres_url, throwaway_database

BENCH_DIR = Path(__file__).resolve().parent
BENCH_DB = "opencdmo_bench"

AUDITED_VS_PLAIN_MIN = 0.5
OURS_VS_SIMPLE_HISTORY_MIN = 1.0
VERIFY_EVENTS_PER_S_MIN = 200_000
VERIFY_1M_SECONDS_MAX = 5.0

# Transactions per writer per round, rounds per mode (short rounds, many of them: a ratio is
# taken between neighbouring rounds, so a burst of load on the machine shifts both alike),
# and the size of the verified trail.
SIZES = {
    "quick": {"w1_tx": 60, "w8_tx": 15, "repeats": 8, "rows_per_writer": 20,
              "verify_events": 100_000, "verify_repeats": 3},
    "full": {"w1_tx": 100, "w8_tx": 25, "repeats": 40, "rows_per_writer": 50,
             "verify_events": 1_000_000, "verify_repeats": 7},
}
WRITER_COUNTS = (1, 8)


# --------------------------------------------------------------------------------------------
# Worker side: runs inside Django with bench/settings.py against one database.
# --------------------------------------------------------------------------------------------


def _setup_django():
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    sys.path.insert(0, str(BENCH_DIR))
    import django

    django.setup()
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.schema_editor() as editor:  # the bench-only app has no migrations
        for model in apps.get_app_config("benchapp").get_models():
            editor.create_model(model)


def _make_actor():
    from opencdmo.core.models import User

    user = User(username="bench.writer", full_name="Bench Writer")
    user.set_unusable_password()
    user.save()
    return user


def _make_rows(model, writers: int, per_writer: int) -> list[list[int]]:
    from decimal import Decimal

    prefix = "SH" if model.__name__.endswith("SH") else "BR"
    objs = [
        model(number=f"{prefix}-{w}-{i:04d}", title=f"Lot record {w}/{i}",
              status="in_review", quantity=Decimal("12.500"), unit="mL",
              notes="Thawed at 37 °C; viability 92 %.")
        for w in range(writers) for i in range(per_writer)
    ]
    model.objects.bulk_create(objs)
    pks = list(model.objects.order_by("pk").values_list("pk", flat=True))
    return [pks[w * per_writer:(w + 1) * per_writer] for w in range(writers)]


class WriterPool:
    """N threads, each with its own database connection and its own rows, run in lock-step
    rounds: the main thread starts a round, all writers run it, the round's wall time counts."""

    def __init__(self, n: int, rows: dict[str, list[list[int]]], actor):
        self.n = n
        self.rows = rows
        self.actor = actor
        self.task = None
        self.start = threading.Barrier(n + 1)
        self.done = threading.Barrier(n + 1)
        self.latencies: list[list[float]] = [[] for _ in range(n)]
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def _loop(self, index: int) -> None:
        from django.db import connection, transaction

        from benchapp.models import BenchRecord, BenchRecordSH
        from opencdmo.core import context, records

        actor, counter = self.actor, 0
        with context.action(client_address="127.0.0.1"):
            while True:
                self.start.wait()
                if self.task is None:
                    break
                mode, count = self.task
                model = BenchRecordSH if mode == "simple_history" else BenchRecord
                pks = self.rows[model.__name__][index]
                lat = self.latencies[index] = []
                try:
                    for i in range(count):
                        counter += 1
                        title = f"Lot record rev {index}.{counter}"
                        t0 = time.perf_counter()
                        with transaction.atomic():
                            obj = model.objects.select_for_update().get(pk=pks[i % len(pks)])
                            if mode == "plain":
                                obj.title = title
                                obj.save(update_fields=["title"])
                            elif mode == "audited":
                                records.update_record(actor, obj, title=title,
                                                      reason="Correction of a typing error")
                            else:
                                obj.title = title
                                obj._history_user = actor
                                obj._change_reason = "Correction of a typing error"
                                obj.save()
                        lat.append(time.perf_counter() - t0)
                except BaseException as exc:  # reported by the main thread
                    self.errors.append(exc)
                self.done.wait()
        connection.close()

    def run(self, mode: str, count: int) -> tuple[float, list[float]]:
        """One round: every writer does `count` transactions; returns (tx/s, latencies)."""
        self.task = (mode, count)
        self.start.wait()
        t0 = time.perf_counter()
        self.done.wait()
        elapsed = time.perf_counter() - t0
        if self.errors:
            raise RuntimeError(f"writer failed in {mode}: {self.errors[0]!r}") from self.errors[0]
        lat = [x for per in self.latencies for x in per]
        return self.n * count / elapsed, lat

    def close(self) -> None:
        self.task = None
        self.start.wait()
        for t in self.threads:
            t.join()


def bench_writes(size: dict) -> dict:
    from django.db import connection

    from benchapp.models import BenchRecord, BenchRecordSH
    from opencdmo.core.models import AuditEvent

    actor = _make_actor()
    max_writers = max(WRITER_COUNTS)
    rows = {
        "BenchRecord": _make_rows(BenchRecord, max_writers, size["rows_per_writer"]),
        "BenchRecordSH": _make_rows(BenchRecordSH, max_writers, size["rows_per_writer"]),
    }
    connection.close()  # the writers use their own connections
    out = {}
    for writers in WRITER_COUNTS:
        modes = ["plain", "audited"] + (["simple_history"] if writers == 1 else [])
        count = size["w1_tx"] if writers == 1 else size["w8_tx"]
        pool = WriterPool(writers, rows, actor)
        try:
            for mode in modes:  # warm-up: connections, caches, statement plans
                pool.run(mode, max(5, count // 5))
            tps = {m: [] for m in modes}
            lat = {m: [] for m in modes}
            for r in range(size["repeats"]):
                order = modes[r % len(modes):] + modes[:r % len(modes)]  # each mode leads in turn
                for mode in order:
                    rate, latencies = pool.run(mode, count)
                    tps[mode].append(rate)
                    lat[mode].extend(latencies)
        finally:
            pool.close()
        cell = {}
        for mode in modes:
            cell[mode] = {
                "tps_median": median(tps[mode]),
                "tps_min": min(tps[mode]),
                "latency_ms_median": median(lat[mode]) * 1000,
                "latency_ms_p95": p95(lat[mode]) * 1000,
                "transactions": len(lat[mode]),
            }
        cell["audited_vs_plain"] = median(
            [a / p for a, p in zip(tps["audited"], tps["plain"], strict=True)])
        if "simple_history" in modes:
            cell["ours_vs_simple_history"] = median(
                [a / s for a, s in zip(tps["audited"], tps["simple_history"], strict=True)])
        out[f"w{writers}"] = cell
        log(f"  {writers} writer(s): plain {cell['plain']['tps_median']:.0f} tx/s, "
            f"audited {cell['audited']['tps_median']:.0f} tx/s, "
            f"ratio {cell['audited_vs_plain']:.2f}")
    from opencdmo.core.verification import verify_audit_trail

    trail = verify_audit_trail()  # what the audited writers wrote must verify (not timed)
    if not trail.intact or trail.events != AuditEvent.objects.count():
        raise RuntimeError(f"the trail written by the benchmark does not verify: {trail}")
    out["audit_events_written"] = trail.events
    connection.close()
    return out


def build_trail(n: int, lanes: int, chunk: int = 50_000) -> None:
    """Write n events with correct chains and sealed heads, fast: the rows log_event writes,
    built with the same domain functions, inserted in big transactions. Not measured."""
    import datetime as dt

    from django.db import connection, transaction

    from opencdmo.core import audit
    from opencdmo.core.domain import canonical, chain
    from opencdmo.core.models import AuditChain

    rng = random.Random(20250101)
    heads = {lane: (0, chain.GENESIS) for lane in range(lanes)}
    base = dt.datetime(2025, 1, 6, 7, 0, tzinfo=dt.UTC)
    actions = ["update", "update", "update", "create", "transition", "sign", "login"]
    users = [(i, f"Operator {i:02d}") for i in range(1, 41)]
    correlation = uuid.uuid4().hex
    insert = audit._insert_sql()
    with connection.cursor() as cursor:
        for start in range(1, n + 1, chunk):
            batch = []
            for event_id in range(start, min(n, start + chunk - 1) + 1):
                lane = rng.randrange(lanes)
                seq, prev = heads[lane]
                seq += 1
                actor_id, actor_name = users[event_id % len(users)]
                if event_id % 5 == 0:
                    correlation = uuid.uuid4().hex
                record_no = event_id // 7
                changes = canonical.dumps({
                    "title": [f"Lot record rev {record_no}", f"Lot record rev {record_no + 1}"],
                    "quantity": ["12.500", f"{12.5 + event_id % 9:.3f}"],
                })
                values = (
                    event_id, lane, seq,
                    (base + dt.timedelta(milliseconds=event_id * 41)).strftime(
                        audit.TIMESTAMP_FORMAT),
                    actor_id, actor_name, actions[event_id % len(actions)],
                    "benchapp.benchrecord", str(record_no), f"BR-{record_no:07d}",
                    event_id % 13 + 1, event_id % 6 or None, changes,
                    "Correction of a typing error" if event_id % 3 else "",
                    correlation, f"10.20.{event_id % 200}.{event_id % 250}",
                )
                digest = chain.event_hash(values, prev)
                batch.append((*values, prev, digest))
                heads[lane] = (seq, digest)
            with transaction.atomic():
                cursor.executemany(insert, batch)
        key = audit.seal_key()
        with transaction.atomic():  # the genesis heads exist since migrate: move them on
            for lane, (seq, h) in heads.items():
                AuditChain.objects.filter(lane=lane).update(last_seq=seq, last_hash=h,
                                                            seal=chain.head_seal(key, lane, seq, h))


def bench_verify(size: dict) -> dict:
    from django.conf import settings
    from django.db import connection

    from opencdmo.core.verification import verify_audit_trail

    n = size["verify_events"]
    if connection.vendor != "sqlite" and n < 1_000_000:
        n //= 3  # quick run: PostgreSQL's figure has no target; keep the run under a minute
    t0 = time.perf_counter()
    build_trail(n, settings.AUDIT_CHAIN_LANES)
    log(f"  built {n:,} events in {time.perf_counter() - t0:.1f} s (not measured)")
    times = []
    # The target is SQLite's; PostgreSQL's figure is reported with fewer repeats.
    repeats = size["verify_repeats"] if connection.vendor == "sqlite" else 3
    for _ in range(repeats):
        connection.close()  # each run starts like `opencdmo audit verify`: a fresh connection
        t0 = time.perf_counter()
        result = verify_audit_trail()
        times.append(time.perf_counter() - t0)
        if not result.intact or result.events != n:
            raise RuntimeError(f"built trail does not verify: {result}")
    seconds = median(times)
    log(f"  verified {n:,} events: median {seconds:.2f} s")
    return {
        "events": n,
        "lanes": result.lanes,
        "seconds_median": seconds,
        "seconds_p95": p95(times),
        "events_per_s": n / seconds,
        "seconds_per_1m_events": seconds * 1_000_000 / n,
    }


def worker(args) -> None:
    _setup_django()
    from django.db import connection

    size = SIZES["quick" if args.quick else "full"]
    result = {"vendor": connection.vendor}
    if args.part == "writes":
        result["writes"] = bench_writes(size)
    else:
        result["verify"] = bench_verify(size)
    Path(args.out).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Orchestrator: one worker process per database, then the table and the JSON line.
# --------------------------------------------------------------------------------------------


def run_worker(part: str, quick: bool, database: str | None) -> dict:
    return harness.run_worker(__file__, [part, *(["--quick"] if quick else [])], database, timeout=1200)


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced data set, under a minute")
    parser.add_argument("--postgres", metavar="URL",
                        help="PostgreSQL server to measure on (default: OPENCDMO_DATABASE_URL)")
    parser.add_argument("--worker", choices=["writes", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.part = args.worker
        worker(args)
        return

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    mode = "quick" if args.quick else "full"
    pg_url = postgres_url(args.postgres)
    results = {}
    log(f"[{mode}] SQLite: audited vs plain vs simple-history writes")
    results["sqlite"] = run_worker("writes", args.quick, None)
    log(f"[{mode}] SQLite: audit trail verification")
    results["sqlite"].update(run_worker("verify", args.quick, None))
    if pg_url:
        log(f"[{mode}] PostgreSQL ({urlsplit(pg_url).hostname}, database {BENCH_DB}): writes")
        with throwaway_database(pg_url, BENCH_DB) as url:
            results["postgresql"] = run_worker("writes", args.quick, url)
        log(f"[{mode}] PostgreSQL: audit trail verification (reported, no target)")
        with throwaway_database(pg_url, BENCH_DB) as url:
            results["postgresql"].update(run_worker("verify", args.quick, url))

    size = SIZES[mode]
    metrics: dict = {"mode": mode}
    targets: dict = {}

    def target(name: str, value: float, op: str, limit: float) -> None:
        ok = value >= limit if op == ">=" else value < limit
        targets[name] = {"target": f"{op} {limit:g}", "value": round(value, 4), "pass": ok}

    lines = [f"Audit-trail benchmark ({mode} run)", ""]
    header = (f"{'database':<11}{'writers':>8}{'plain tx/s':>12}{'audited tx/s':>14}"
              f"{'audited/plain':>15}{'plain p95 ms':>14}{'audited p95 ms':>16}")
    lines += [header, "-" * len(header)]
    for db, res in results.items():
        w = res["writes"]
        for writers in WRITER_COUNTS:
            cell = w[f"w{writers}"]
            pl, au = cell["plain"], cell["audited"]
            key = f"{db}.w{writers}"
            metrics[f"{key}.plain_tps"] = round(pl["tps_median"], 1)
            metrics[f"{key}.audited_tps"] = round(au["tps_median"], 1)
            metrics[f"{key}.plain_latency_ms_p95"] = round(pl["latency_ms_p95"], 3)
            metrics[f"{key}.audited_latency_ms_p95"] = round(au["latency_ms_p95"], 3)
            metrics[f"{key}.audited_vs_plain"] = round(cell["audited_vs_plain"], 4)
            target(f"{key}.audited_vs_plain", cell["audited_vs_plain"], ">=",
                   AUDITED_VS_PLAIN_MIN)
            lines.append(
                f"{db:<11}{writers:>8}{_fmt_rate(pl['tps_median']):>12}"
                f"{_fmt_rate(au['tps_median']):>14}{cell['audited_vs_plain']:>15.2f}"
                f"{pl['latency_ms_p95']:>14.2f}{au['latency_ms_p95']:>16.2f}")
    lines += ["", f"{'database':<11}{'ours tx/s':>12}{'simple-history tx/s':>21}"
                  f"{'ours/simple-history':>21}{'s-h p95 ms':>12}"]
    lines.append("-" * len(lines[-1]))
    for db, res in results.items():
        cell = res["writes"]["w1"]
        sh = cell["simple_history"]
        ratio = cell["ours_vs_simple_history"]
        metrics[f"{db}.w1.simple_history_tps"] = round(sh["tps_median"], 1)
        metrics[f"{db}.w1.ours_vs_simple_history"] = round(ratio, 4)
        target(f"{db}.ours_vs_simple_history", ratio, ">=", OURS_VS_SIMPLE_HISTORY_MIN)
        lines.append(f"{db:<11}{_fmt_rate(cell['audited']['tps_median']):>12}"
                     f"{_fmt_rate(sh['tps_median']):>21}{ratio:>21.2f}"
                     f"{sh['latency_ms_p95']:>12.2f}")
    lines.append("")
    for db, res in results.items():
        v = res["verify"]
        for name in ("events", "lanes"):
            metrics[f"{db}.verify.{name}"] = v[name]
        for name in ("seconds_median", "seconds_p95", "seconds_per_1m_events"):
            metrics[f"{db}.verify.{name}"] = round(v[name], 3)
        metrics[f"{db}.verify.events_per_s"] = round(v["events_per_s"])
        measured = "measured" if v["events"] >= 1_000_000 else "extrapolated"
        lines.append(
            f"verify_audit_trail() on {db}: {v['events']:,} events in {v['lanes']} chains, "
            f"median {v['seconds_median']:.2f} s (p95 {v['seconds_p95']:.2f} s) = "
            f"{v['events_per_s']:,.0f} events/s; 1M events: {v['seconds_per_1m_events']:.2f} s "
            f"({measured}){'' if db == 'sqlite' else ' [no target]'}")
    v = results["sqlite"]["verify"]
    target("sqlite.verify.events_per_s", v["events_per_s"], ">=", VERIFY_EVENTS_PER_S_MIN)
    target("sqlite.verify.seconds_per_1m_events", v["seconds_per_1m_events"], "<",
           VERIFY_1M_SECONDS_MAX)
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (set OPENCDMO_DATABASE_URL or --postgres URL)")
    lines += ["", f"repeats per cell: {size['repeats']} (rounds interleaved, ratios are medians "
                  f"of per-repeat ratios); tx per writer per round: 1 writer {size['w1_tx']}, "
                  f"8 writers {size['w8_tx']}", ""]
    for name, t in targets.items():
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {name}: {t['value']:g} "
                     f"(target {t['target']})")
    metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
    metrics["cpus"] = os.cpu_count()
    metrics["loadavg_1min_start"] = round(load_start, 2)
    metrics["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
    lines.append(f"\ntotal {metrics['elapsed_s']} s on {metrics['cpus']} CPUs; 1-minute load average "
                 f"{load_start:.1f} at start, {metrics['loadavg_1min_end']:.1f} at end (other work "
                 "on the machine lowers absolute figures; ratios are measured side by side)")
    print("\n".join(lines))
    print(json.dumps({"metrics": metrics, "targets": targets,
                      "pass": all(t["pass"] for t in targets.values())}))


if __name__ == "__main__":
    main()
