"""Demo data for the materials app, built through its services (called by `opencdmo seed-demo`)."""


def seed(users: dict, sponsors: dict) -> None:
    """users: user ID → User (see demo/management/commands/seed_demo.py); sponsors: code → Sponsor."""
