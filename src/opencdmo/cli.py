"""The `opencdmo` command: `opencdmo demo`, `serve`, `migrate`, `seed-demo`, `audit verify`,
`createuser`, and every other Django management command (dashes or underscores)."""

import os
import sys

USAGE = """usage: opencdmo COMMAND [options]

  demo            migrate, seed the demo CDMO when the database is empty, serve on http://127.0.0.1:8000
  serve           serve the application (gunicorn) on --bind 127.0.0.1:8000
  migrate         create or upgrade the database
  seed-demo       load the demo CDMO into an empty database
  audit verify    check the audit trail's hash chains (exit 0 intact, 1 not)
  createuser      add a user account with roles

Settings come from OPENCDMO_DATABASE_URL, OPENCDMO_DATA_DIR, OPENCDMO_SECRET_KEY, OPENCDMO_DEBUG,
OPENCDMO_TIME_ZONE and OPENCDMO_SESSION_TIMEOUT_MIN. `opencdmo help` lists every command."""


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opencdmo.settings")
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    command = argv[0] if argv[0] == "help" else argv[0].replace("-", "_")
    execute_from_command_line(["opencdmo", command, *argv[1:]])


if __name__ == "__main__":
    main()
