"""The per-process profile snapshot sees a change made any way at the next connection
(issue 11): save(), QuerySet.update(), raw SQL, another process; with and without a
shared cache."""

import time

import pytest
from django.core import mail
from django.db import connection

from smtpconfig.delivery import profiles as routing
from smtpconfig.models import SMTPProfile

from .helpers import run_in_another_process
from .smtpd import running_smtp_server

pytestmark = pytest.mark.django_db

TABLE = SMTPProfile._meta.db_table


def subjects(server) -> list[str]:
    return [message.message["Subject"] for message in server.messages]


@pytest.fixture
def two_servers(use_backend, make_profile, settings):
    """A default profile on one server and a second profile on another."""
    with running_smtp_server() as first, running_smtp_server() as second:
        make_profile(name="First", port=first.port)
        make_profile(name="Second", port=second.port, is_default=False, priority=200)
        yield first, second


def test_disabling_with_update_is_seen_by_the_next_connection(two_servers):
    first, second = two_servers
    mail.send_mail("One", "Body", None, ["to@example.org"])  # the snapshot is loaded here
    SMTPProfile.objects.filter(name="First").update(enabled=False)
    mail.send_mail("Two", "Body", None, ["to@example.org"])
    assert subjects(first) == ["One"]
    assert subjects(second) == ["Two"]


def test_a_change_in_raw_sql_is_seen_by_the_next_connection(two_servers):
    first, second = two_servers
    mail.send_mail("One", "Body", None, ["to@example.org"])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET port = %s WHERE name = %s", [second.port, "First"])
    mail.send_mail("Two", "Body", None, ["to@example.org"])
    assert subjects(first) == ["One"]
    assert subjects(second) == ["Two"]


def test_with_a_shared_cache_update_is_seen_at_once(two_servers, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "CACHE": "default"}
    first, second = two_servers
    mail.send_mail("One", "Body", None, ["to@example.org"])
    SMTPProfile.objects.filter(name="First").update(enabled=False)
    mail.send_mail("Two", "Body", None, ["to@example.org"])
    assert subjects(second) == ["Two"]


def test_with_a_shared_cache_raw_sql_is_seen_within_seconds(two_servers, settings, monkeypatch):
    monkeypatch.setattr(routing, "_CACHED_GENERATION_SECONDS", 1)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "CACHE": "default"}
    first, second = two_servers
    mail.send_mail("One", "Body", None, ["to@example.org"])
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET enabled = %s WHERE name = %s", [False, "First"])
    time.sleep(1.2)  # the cached generation expires and is read from the database again
    mail.send_mail("Two", "Body", None, ["to@example.org"])
    assert subjects(second) == ["Two"]


def test_the_profiles_version_changes_on_every_kind_of_change(make_profile):
    def version():
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM smtpconfig_profilesversion WHERE id = 1")
            row = cursor.fetchone()
        return row[0] if row else None

    seen = [version()]
    profile = make_profile()
    seen.append(version())
    SMTPProfile.objects.filter(pk=profile.pk).update(priority=5)
    seen.append(version())
    profile.delete()
    seen.append(version())
    assert len(set(seen)) == 4, seen


@pytest.mark.django_db(transaction=True)
def test_a_raw_sql_change_in_another_process_is_used_by_the_next_connection(
    use_backend, make_profile, settings
):
    with running_smtp_server() as first, running_smtp_server() as second:
        make_profile(port=first.port)
        mail.send_mail("One", "Body", None, ["to@example.org"])  # caches the profile here
        run_in_another_process(
            "from django.db import connection; cursor = connection.cursor(); "
            f"cursor.execute('UPDATE {TABLE} SET port = {second.port}')"
        )
        mail.send_mail("Two", "Body", None, ["to@example.org"])
        assert subjects(first) == ["One"]
        assert subjects(second) == ["Two"]


def test_the_version_triggers_come_back_after_a_migration_rebuilt_the_table(make_profile):
    """SQLite drops a table's triggers when a migration rebuilds it (migration 0008 did):
    post_migrate makes them again."""
    from smtpconfig.models.versions import ensure_version_triggers

    def version():
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM smtpconfig_profilesversion WHERE id = 1")
            row = cursor.fetchone()
        return row[0] if row else None

    profile = make_profile()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER smtpconfig_profiles_{event}")
        else:
            cursor.execute(f"DROP TRIGGER smtpconfig_profiles_changed ON {TABLE}")
    before = version()
    SMTPProfile.objects.filter(pk=profile.pk).update(priority=3)
    assert version() == before  # without triggers nothing notices
    ensure_version_triggers(connection)
    SMTPProfile.objects.filter(pk=profile.pk).update(priority=4)
    assert version() != before
