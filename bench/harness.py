"""What every benchmark shares: statistics, bulk loading, and one worker process per database.

A benchmark script is run as `python bench/<name>.py [--quick] [--postgres URL]`. It measures
SQLite in a throwaway data folder and, when a PostgreSQL server is named (--postgres or
OPENCDMO_DATABASE_URL), a throwaway database on it, each in its own worker process (the
script itself, with --worker). The last line it prints is one JSON object:
{"metrics": {...}, "targets": {...}, "pass": ...}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_T0 = float(os.environ.setdefault("OPENCDMO_BENCH_T0", str(time.time())))  # shared with the workers


def log(msg: str) -> None:
    """Progress on stderr, stamped with the seconds since the benchmark started."""
    print(f"[{time.time() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def p95(values):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def postgres_url(option: str | None) -> str | None:
    """The PostgreSQL server to measure on: --postgres, else OPENCDMO_DATABASE_URL if it is one."""
    url = option or os.environ.get("OPENCDMO_DATABASE_URL") or None
    return url if url and url.startswith("postgres") else None


# --------------------------------------------------------------------------------------------
# Worker side: inside Django, against one database.
# --------------------------------------------------------------------------------------------


def setup_django(settings: str = "opencdmo.settings") -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Inserter:
    """Bulk rows into one model's table: COPY on PostgreSQL, executemany on SQLite.

    Columns the caller does not give get the field's default (so the bench keeps working when
    a model gains a field with a default); ids are given explicitly, sequences reset after.
    """

    def __init__(self, model, columns: list[str]):
        from django.db import connection

        self.model = model
        self.vendor = connection.vendor
        fields = {f.column: f for f in model._meta.concrete_fields}
        unknown = set(columns) - set(fields)
        if unknown:
            raise RuntimeError(f"{model.__name__} has no column(s) {sorted(unknown)}: update the benchmark")
        self.extra = [c for c, f in fields.items() if c not in columns and not f.primary_key]
        self.extra_values = tuple(fields[c].get_db_prep_save(fields[c].get_default(), connection)
                                  for c in self.extra)
        self.columns = [*columns, *self.extra]
        self.table = model._meta.db_table

    def when(self, moment: dt.datetime):
        """A timestamp as this database takes it in bulk."""
        from django.db import connection

        return moment if self.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(moment)

    def insert(self, rows, chunk: int = 50_000) -> int:
        from django.db import connection, transaction

        extra, n = self.extra_values, 0
        names = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with transaction.atomic(), connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(self.table)} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + extra)
                        n += 1
            else:
                sql = (f"INSERT INTO {connection.ops.quote_name(self.table)} ({names}) "
                       f"VALUES ({', '.join(['%s'] * len(self.columns))})")
                buffer = []
                for row in rows:
                    buffer.append(row + extra)
                    if len(buffer) >= chunk:
                        cursor.executemany(sql, buffer)
                        n += len(buffer)
                        buffer = []
                if buffer:
                    cursor.executemany(sql, buffer)
                    n += len(buffer)
        return n


def _reset_sequences(models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def reset_sequences(models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


# --------------------------------------------------------------------------------------------
# Orchestrator side: one worker process per database.
# --------------------------------------------------------------------------------------------


def database_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, ""))


def pg_admin(url: str, sql: str) -> None:
    import psycopg

    conninfo = database_url(url, "postgres").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def throwaway_database(url: str, dbname: str):
    """A new database on the server of `url`, dropped afterwards; yields its URL."""
    pg_admin(url, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    pg_admin(url, f"CREATE DATABASE {dbname}")
    try:
        yield database_url(url, dbname)
    finally:
        pg_admin(url, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


def run_worker(script: str, worker_args: list[str], database: str | None, *, timeout: int = 1800) -> dict:
    """Run `script --worker <worker_args> --out F` in a fresh data folder (and `database`, a
    PostgreSQL URL, when given); return the JSON the worker wrote to F."""
    data_dir = tempfile.mkdtemp(prefix="opencdmo-bench-")
    out = Path(data_dir) / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "OPENCDMO_DATABASE_URL"}
    env["OPENCDMO_DATA_DIR"] = data_dir
    env["OPENCDMO_SECRET_KEY"] = "bench-" + uuid.uuid4().hex
    if database:
        env["OPENCDMO_DATABASE_URL"] = database
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", *worker_args, "--out", str(out)]
    try:
        subprocess.run(cmd, env=env, check=True, timeout=timeout)
        return json.loads(out.read_text())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def arguments(doc: str, quick_help: str) -> argparse.Namespace:
    """The command line every benchmark takes: --quick, --postgres URL, and the worker's own."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--postgres", metavar="URL",
                        help="PostgreSQL server to measure on (default: OPENCDMO_DATABASE_URL)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


def run_on_each_database(script: str, args, bench_db: str, what: str) -> dict:
    """The worker's results on SQLite and, when a server is named, on a throwaway PostgreSQL database."""
    mode = "quick" if args.quick else "full"
    worker_args = ["--quick"] if args.quick else []
    log(f"[{mode}] SQLite: {what}")
    results = {"sqlite": run_worker(script, worker_args, None)}
    if pg_url := postgres_url(args.postgres):
        log(f"[{mode}] PostgreSQL ({urlsplit(pg_url).hostname}, database {bench_db}): {what}")
        with throwaway_database(pg_url, bench_db) as url:
            results["postgresql"] = run_worker(script, worker_args, url)
    return results

