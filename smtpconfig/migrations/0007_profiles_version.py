"""A row the database itself changes whenever a profile changes, however it changes.

Triggers on the profiles table write a new random value into
smtpconfig_profilesversion on every insert, update and delete (and truncate,
on PostgreSQL), so that `QuerySet.update()`, another process or raw SQL are
seen by every process's profile snapshot at its next connection. Random, not
a counter: a table emptied by a test run's flush must not come back to a
value a snapshot already saw.

On other databases no trigger is made and the snapshot falls back to
comparing MAX(updated_at) and COUNT(*) (which `save()` and deletes change).
"""

from django.db import migrations, models

PROFILES, VERSION = "smtpconfig_smtpprofile", "smtpconfig_profilesversion"

SQLITE = [
    f"""
    CREATE TRIGGER smtpconfig_profiles_{event.lower()} AFTER {event} ON {PROFILES}
    BEGIN
        INSERT OR REPLACE INTO {VERSION} (id, value) VALUES (1, random());
    END
    """
    for event in ("INSERT", "UPDATE", "DELETE")
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS smtpconfig_profiles_{event}" for event in ("insert", "update", "delete")
]

POSTGRESQL = [
    f"""
    CREATE OR REPLACE FUNCTION smtpconfig_profiles_changed() RETURNS trigger AS $$
    BEGIN
        INSERT INTO {VERSION} (id, value) VALUES (1, floor(random() * 9.2e18)::bigint)
        ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE TRIGGER smtpconfig_profiles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {PROFILES}
    FOR EACH STATEMENT EXECUTE FUNCTION smtpconfig_profiles_changed()
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS smtpconfig_profiles_changed ON {PROFILES}",
    "DROP FUNCTION IF EXISTS smtpconfig_profiles_changed()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("smtpconfig", "0006_seal_stored_passwords"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProfilesVersion",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "profiles version",
                "default_permissions": (),
            },
        ),
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}),
        ),
    ]
