"""`opencdmo createuser`: add an account (the first administrator, or from scripts)."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from opencdmo.core import context, services
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import DomainError


class Command(BaseCommand):
    help = "Create a user with roles. Asks for the password when --password is not given."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="printed name, as shown on signatures")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", action="append", default=[], choices=[r.value for r in Role])
        parser.add_argument("--password")

    def handle(self, *args, username, name, email, role, password, **options):
        password = password or getpass.getpass("Password (at least 12 characters): ")
        with context.action(client_address="command line"):
            try:
                user = services.create_user(None, username=username, full_name=name, email=email,
                                            password=password, roles=role, reason="created from the command line")
            except DomainError as exc:
                raise CommandError(exc.message) from None
        self.stdout.write(f"Created {user} with roles: {', '.join(user.role_labels) or 'none'}.")
