"""`opencdmo audit verify`: is the audit trail exactly what the application wrote?"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from opencdmo.core.verification import verify_audit_trail


class Command(BaseCommand):
    help = ("Audit-trail tools. 'verify' recomputes every hash chain and seal: exit 0 intact, 1 not intact, "
            "2 no audit trail to read.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])
        parser.add_argument("--no-seal", action="store_true",
                            help="check the hash chains only, without the installation's secret key")

    def handle(self, *args, action, no_seal, **options):
        started = time.perf_counter()
        try:
            result = verify_audit_trail(check_seal=not no_seal)
        except DatabaseError as exc:  # not the trail failing: nothing to verify here
            raise CommandError(f"Cannot read an audit trail in this database ({exc}). Check OPENCDMO_DATABASE_URL "
                               "and OPENCDMO_DATA_DIR, and run `opencdmo migrate` for a new installation.",
                               returncode=2) from None
        elapsed = time.perf_counter() - started
        if result.intact:
            self.stdout.write(
                f"Audit trail intact: {result.events} events in {result.lanes} chains verified "
                f"in {elapsed:.2f} s."
            )
            return
        self.stderr.write(f"AUDIT TRAIL NOT INTACT. First bad event: {result.first_break}")
        sys.exit(1)
