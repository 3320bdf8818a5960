"""Append-only audit trail and signatures (P11-1e): triggers, and the event id sequence."""

from django.db import migrations

from opencdmo.core import triggers


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Event ids come from a sequence taken together with the chain head, so the id is
        # known before the event is hashed and concurrent writers never wait on each other.
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS opencdmo_audit_event_id")
    triggers.install(schema_editor)


def backwards(apps, schema_editor):
    triggers.drop(schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS opencdmo_audit_event_id")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
