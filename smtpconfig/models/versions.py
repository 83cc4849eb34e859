"""A row that changes whenever any profile changes (kept by database triggers)."""

from __future__ import annotations

from django.db import connections, models
from django.utils.translation import gettext_lazy as _


class ProfilesVersion(models.Model):
    """One row whose value changes whenever any SMTP profile changes, however it changes.

    Database triggers (migration 0007, on SQLite and PostgreSQL) write a new
    random value on every insert, update, delete or truncate of the profiles
    table: a change made with ``save()``, ``QuerySet.update()``, another
    process or raw SQL alike. Each process compares it, once per connection
    it opens, with the value its snapshot of the profiles was read at.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("profiles version")
        default_permissions = ()

    def __str__(self) -> str:
        return str(self.value)


_PROFILES, _VERSION = "smtpconfig_smtpprofile", "smtpconfig_profilesversion"

_TRIGGERS = {
    "sqlite": [
        f"""
        CREATE TRIGGER IF NOT EXISTS smtpconfig_profiles_{event.lower()}
        AFTER {event} ON {_PROFILES}
        BEGIN
            INSERT OR REPLACE INTO {_VERSION} (id, value) VALUES (1, random());
        END
        """  # noqa: S608 (table names only)
        for event in ("INSERT", "UPDATE", "DELETE")
    ],
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION smtpconfig_profiles_changed() RETURNS trigger AS $$
        BEGIN
            INSERT INTO {_VERSION} (id, value) VALUES (1, floor(random() * 9.2e18)::bigint)
            ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,  # noqa: S608 (table names only)
        f"DROP TRIGGER IF EXISTS smtpconfig_profiles_changed ON {_PROFILES}",
        f"""
        CREATE TRIGGER smtpconfig_profiles_changed
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {_PROFILES}
        FOR EACH STATEMENT EXECUTE FUNCTION smtpconfig_profiles_changed()
        """,
    ],
}


def ensure_version_triggers(connection) -> None:
    """Create the triggers that keep :class:`ProfilesVersion`, if they are missing.

    Run after every ``migrate`` (a ``post_migrate`` receiver): SQLite rebuilds a
    table to add or alter a column, and a rebuilt table has lost its triggers.
    Databases other than SQLite and PostgreSQL get none (the snapshot then
    compares ``MAX(updated_at)`` and ``COUNT(*)``).
    """
    statements = _TRIGGERS.get(connection.vendor, [])
    if not statements:
        return
    tables = connection.introspection.table_names()
    if _PROFILES not in tables or _VERSION not in tables:
        return
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def version_triggers_after_migrate(using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver: see :func:`ensure_version_triggers`."""
    ensure_version_triggers(connections[using])
