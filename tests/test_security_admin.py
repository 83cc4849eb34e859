"""What each admin user may do, what the history records, and what happens when the
database or the cache refuses writes (issue 10, findings 2, 4, 6, 12, 15 and 16)."""

import contextlib
import threading
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from smtpconfig.models import SMTPProfile

from .helpers import PASSWORD, USER, client_with, profile_form
from .smtpd import scripted_server

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:smtpconfig_smtpprofile_changelist")
ADD_URL = reverse("admin:smtpconfig_smtpprofile_add")
AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def change_url(profile):
    return reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])


def history(profile) -> list[str]:
    return [
        entry.get_change_message()
        for entry in LogEntry.objects.filter(object_id=str(profile.pk)).order_by("pk")
    ]


# Finding 2 and 16: switching the default.


def test_a_view_only_user_cannot_switch_the_default(make_profile):
    first = make_profile(name="First")
    second = make_profile(name="Second", is_default=False)
    viewer = client_with("view_smtpprofile")
    response = viewer.post(
        LIST_URL, {"action": "make_default", "_selected_action": [second.pk], "index": 0}
    )
    assert response.status_code in (200, 302, 403)
    assert SMTPProfile.objects.get(is_default=True) == first
    assert LogEntry.objects.count() == 0
    # The action is not even offered to them.
    assert "make_default" not in viewer.get(LIST_URL).content.decode()


def test_make_default_is_in_the_history_of_both_profiles(make_profile):
    first = make_profile(name="First")
    second = make_profile(name="Second", is_default=False)
    editor = client_with("view_smtpprofile", "change_smtpprofile")
    editor.post(LIST_URL, {"action": "make_default", "_selected_action": [second.pk], "index": 0})
    assert SMTPProfile.objects.get(is_default=True) == second
    assert any("default" in message.lower() for message in history(second))
    assert any("No longer the default" in message for message in history(first))


def test_saving_a_new_default_in_the_form_records_the_old_default_too(make_profile):
    first = make_profile(name="First")
    second = make_profile(name="Second", is_default=False)
    editor = client_with("view_smtpprofile", "change_smtpprofile")
    response = editor.post(change_url(second), profile_form(second, is_default="on"))
    assert response.status_code == 302
    assert SMTPProfile.objects.get(is_default=True) == second
    assert any("No longer the default" in message for message in history(first))


def test_enabled_state_and_order_changes_are_in_the_history(make_profile):
    profile = make_profile()
    editor = client_with("view_smtpprofile", "change_smtpprofile")
    editor.post(change_url(profile), profile_form(profile, enabled=None, priority="7"))
    [message] = history(profile)
    assert "Enabled" in message and "Failover order" in message


# Finding 15: the buttons match the permission.


def test_view_and_test_permission_without_change_shows_no_buttons_and_refuses(
    make_profile, plain_server
):
    profile = make_profile(port=plain_server.port)
    tester = client_with("view_smtpprofile", "send_test_email")
    html = tester.get(change_url(profile)).content.decode()
    assert "Send test email" not in html and "Check connection" not in html
    response = tester.post(
        change_url(profile), profile_form(profile, _check_connection="1", _test_to="a@b.org")
    )
    assert response.status_code == 403
    assert plain_server.messages == []


def test_change_and_test_permission_shows_the_buttons(make_profile):
    profile = make_profile()
    tester = client_with("view_smtpprofile", "change_smtpprofile", "send_test_email")
    assert "Send test email" in tester.get(change_url(profile)).content.decode()


# Finding 6: detection is rate-limited and recorded.


def test_detect_settings_is_rate_limited_and_recorded(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TEST_RATE_LIMIT": 2}
    adder = client_with("view_smtpprofile", "add_smtpprofile")
    data = {"from_email": "someone@example.com", "_detect": "1"}
    for _ in range(2):
        assert adder.post(ADD_URL, data, **AJAX).status_code == 200
    refused = adder.post(ADD_URL, data, **AJAX)
    assert refused.status_code == 429
    assert "wait" in refused.json()["error"]
    messages = [entry.change_message for entry in LogEntry.objects.all()]
    assert sum("Detected settings for someone@example.com" in m for m in messages) == 2


# Finding 4: one test at a time per user.


@pytest.mark.django_db(transaction=True)
def test_a_user_runs_one_test_at_a_time(make_profile, admin_user):
    # A server that accepts and never says a word: the first test waits for its greeting.
    with scripted_server(b"") as silent:
        profile = make_profile(port=silent.port, timeout=2)
        data = profile_form(profile, _check_connection="1", _test_to="a@b.org")
        first_client, second_client = Client(), Client()
        first_client.force_login(admin_user)
        second_client.force_login(admin_user)
        outcome = {}

        def first_test():
            try:
                outcome["first"] = first_client.post(change_url(profile), data, **AJAX)
            finally:
                connections.close_all()  # this thread's own database connection

        worker = threading.Thread(target=first_test)
        worker.start()
        deadline = time.monotonic() + 10
        while not silent.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        second = second_client.post(change_url(profile), data, **AJAX)
        worker.join(15)
    assert second.status_code == 429
    assert "already have a test running" in second.json()["error"]
    assert outcome["first"].status_code == 200
    # Once it is over, the next test runs (and fails: nothing listens any more).
    assert second_client.post(change_url(profile), data, **AJAX).status_code == 200


# Finding 12: a read-only or locked database.


@contextlib.contextmanager
def read_only_database():
    """Make the database refuse every write, for real, until the block ends."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA query_only = OFF")
            else:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_fails_closed_when_the_database_cache_cannot_write(
    settings, make_profile, plain_server, admin_client
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "smtpconfig_test_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    profile = make_profile(port=plain_server.port)
    data = profile_form(profile, _send_test="1", _test_to="a@b.org")
    with read_only_database():
        responses = [admin_client.post(change_url(profile), data, **AJAX) for _ in range(3)]
    assert [response.status_code for response in responses] == [429, 429, 429]
    assert "could not be counted" in responses[0].json()["error"]
    assert plain_server.messages == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ajax", [True, False], ids=["javascript", "no-javascript"])
def test_a_test_is_reported_even_when_the_database_cannot_record_it(
    make_profile, plain_server, admin_client, ajax
):
    profile = make_profile(port=plain_server.port)
    data = profile_form(profile, _send_test="1", _test_to="a@b.org")
    with read_only_database():
        response = admin_client.post(change_url(profile), data, **(AJAX if ajax else {}))
    assert response.status_code == 200
    text = response.json()["html"] if ajax else response.content.decode()
    assert "accepted the test email" in text
    assert "could not be recorded" in text
    assert len(plain_server.messages) == 1
    assert SMTPProfile.objects.get(pk=profile.pk).last_test_at is None


@pytest.mark.django_db(transaction=True)
def test_a_typed_password_is_carried_even_when_the_database_cannot_write(
    make_profile, auth_server, admin_client
):
    """Without JavaScript, a test with a typed password on a read-only database still
    answers with the form (the password carried), never an error page."""
    profile = make_profile(port=auth_server.port, username=USER)
    data = profile_form(profile, password=PASSWORD, _send_test="1", _test_to="a@b.org")
    with read_only_database():
        response = admin_client.post(change_url(profile), data)
    assert response.status_code == 200
    text = response.content.decode()
    assert "accepted the test email" in text
    assert 'name="_password_carried"' in text and PASSWORD not in text
