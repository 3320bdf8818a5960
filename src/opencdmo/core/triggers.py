"""Database triggers that make the audit trail and signatures append-only (P11-1e, P11-4).

They stop the application and anyone using an ordinary database login from changing or
removing history. Someone who can drop them can still tamper; the hash chains then show it.
"""

# (table, operations refused)
PROTECTED = {
    "core_auditevent": ("UPDATE", "DELETE"),
    "core_signature": ("UPDATE", "DELETE"),
    "core_auditchain": ("DELETE",),
}

MESSAGE = "append-only: audit events and signatures cannot be changed or removed"


def _name(table: str, op: str) -> str:
    return f"{table}_no_{op.lower()}"


def install(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for table, ops in PROTECTED.items():
        for op in ops:
            if vendor == "postgresql":
                schema_editor.execute(
                    f"CREATE OR REPLACE FUNCTION {_name(table, op)}() RETURNS trigger AS $$ "
                    f"BEGIN RAISE EXCEPTION '{table}: {MESSAGE}'; END; $$ LANGUAGE plpgsql"
                )
                schema_editor.execute(
                    f"CREATE TRIGGER {_name(table, op)} BEFORE {op} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {_name(table, op)}()"
                )
            else:
                schema_editor.execute(
                    f"CREATE TRIGGER {_name(table, op)} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table}: {MESSAGE}'); END"
                )
        if vendor == "postgresql":
            schema_editor.execute(
                f"CREATE OR REPLACE FUNCTION {table}_no_truncate() RETURNS trigger AS $$ "
                f"BEGIN RAISE EXCEPTION '{table}: {MESSAGE}'; END; $$ LANGUAGE plpgsql"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_no_truncate()"
            )


def drop(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for table, ops in PROTECTED.items():
        names = [_name(table, op) for op in ops]
        if vendor == "postgresql":
            names.append(f"{table}_no_truncate")
        for name in names:
            if vendor == "postgresql":
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            else:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
