"""`opencdmo demo`: migrate, seed the demo CDMO when the database is empty, print logins, serve."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from opencdmo.core.models import User


class Command(BaseCommand):
    help = "Run the demo CDMO on http://127.0.0.1:8000 (SQLite in the data folder by default)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="prepare the database and stop")

    def handle(self, *args, bind, no_serve, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not User.objects.exists():
            call_command("seed_demo", bind=bind)
        else:
            self.stdout.write("The database has data already; the demo data was not loaded again.")
            from .seed_demo import print_logins  # noqa: PLC0415

            print_logins(self.stdout, bind)
        if not no_serve:
            call_command("serve", bind=bind)
