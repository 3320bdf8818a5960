"""`opencdmo audit verify | checkpoint`: is the audit trail exactly what the application wrote?"""

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from opencdmo.core.verification import check_checkpoint, make_checkpoint, verify_audit_trail


class Command(BaseCommand):
    help = ("Audit-trail tools. 'verify' recomputes every hash chain and seal: exit 0 intact, 1 not intact, "
            "2 no audit trail to read. 'checkpoint' writes every chain's head as JSON, to archive outside "
            "the database; 'verify --checkpoint FILE' then also proves no chain was cut back behind it.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify", "checkpoint"])
        parser.add_argument("--no-seal", action="store_true",
                            help="check the hash chains only, without the installation's secret key")
        parser.add_argument("--checkpoint", type=Path, help="verify: a checkpoint file written earlier")
        parser.add_argument("--out", type=Path, help="checkpoint: the file to write (default: standard output)")

    def handle(self, *args, action, no_seal, checkpoint, out, **options):
        try:
            if action == "checkpoint":
                return self._checkpoint(out)
            return self._verify(no_seal, checkpoint)
        except DatabaseError as exc:  # not the trail failing: nothing to verify here
            raise CommandError(f"Cannot read an audit trail in this database ({exc}). Check OPENCDMO_DATABASE_URL "
                               "and OPENCDMO_DATA_DIR, and run `opencdmo migrate` for a new installation.",
                               returncode=2) from None

    def _checkpoint(self, out):
        text = json.dumps(make_checkpoint(), indent=1, sort_keys=True)
        if out is None:
            self.stdout.write(text)
        else:
            out.write_text(text + "\n")
            self.stderr.write(f"Checkpoint written to {out}. Keep it outside this server.")

    def _verify(self, no_seal, checkpoint_file):
        earlier = None
        if checkpoint_file is not None:
            try:
                earlier = json.loads(checkpoint_file.read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the checkpoint {checkpoint_file}: {exc}", returncode=2) from None
        started = time.perf_counter()
        result = verify_audit_trail(check_seal=not no_seal)
        first_break = result.first_break
        if first_break is None and earlier is not None:
            try:
                first_break = check_checkpoint(earlier)
            except ValueError as exc:
                raise CommandError(f"{checkpoint_file}: {exc}", returncode=2) from None
        elapsed = time.perf_counter() - started
        if first_break is None:
            against = f", consistent with the checkpoint of {earlier.get('created_at')}" if earlier else ""
            self.stdout.write(
                f"Audit trail intact: {result.events} event{'s' if result.events != 1 else ''} in "
                f"{result.lanes} chain{'s' if result.lanes != 1 else ''} verified "
                f"in {elapsed:.2f} s{against}."
            )
            return
        self.stderr.write(f"AUDIT TRAIL NOT INTACT. First bad event: {first_break}")
        sys.exit(1)
