"""`opencdmo documents-take-effect`: bring document statuses up to the clock (idempotent, audited).

Run it from a scheduler (e.g. every few minutes); pages also run it when they open, and
`effective_version` is exact at any instant without it."""

from django.core.management.base import BaseCommand

from opencdmo.core import context
from opencdmo.documents import services


class Command(BaseCommand):
    help = "Make approved document versions effective on their date and supersede the ones they replace."

    def handle(self, *args, **options):
        with context.action(client_address="documents-take-effect"):
            done = services.take_effect_due(None)
        for version in done:
            self.stdout.write(f"{version.number} effective from {version.effective_from.isoformat()}")
        self.stdout.write(f"{len(done)} version(s) took effect.")
