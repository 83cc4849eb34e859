"""The delivery log as the admin shows it, what a failure records, and the history of
"make default" (issue 13, item 14)."""

import logging
import re
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse

from smtpconfig.models import DeliveryLog, DeliveryOutcome

from .helpers import LIST_URL, page
from .smtpd import free_port

pytestmark = pytest.mark.django_db


def detail(admin_client, entry) -> str:
    url = reverse("admin:smtpconfig_deliverylog_change", args=[entry.pk])
    return re.sub(r"\s+", " ", page(admin_client.get(url)))


def test_entry_shows_one_profile_a_rounded_duration_and_the_time_to_the_second(
    admin_client, make_profile
):
    profile = make_profile(name="Main")
    entry = DeliveryLog.objects.create(
        created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        outcome="sent",
        profile=profile,
        profile_name="Main",
        duration=0.06674000199996044,
    )
    html = detail(admin_client, entry)
    assert "0.0667" not in html and "67 ms" in html
    assert "Profile name" not in html and "profile name" not in html
    assert f'href="{reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])}"' in html
    assert "2026-03-04 05:06:07 UTC" in html

    listing = page(admin_client.get(reverse("admin:smtpconfig_deliverylog_changelist")))
    assert "2026-03-04 05:06:07 UTC" in listing and "67 ms" in listing


def test_a_long_delivery_is_shown_in_seconds(admin_client):
    entry = DeliveryLog.objects.create(outcome="sent", profile_name="Main", duration=2.4321)
    assert "2.4 s" in detail(admin_client, entry)


@pytest.mark.usefixtures("use_backend")
def test_a_failed_delivery_records_the_profile_tried_and_the_sender_it_was_given(
    admin_client, make_profile, settings
):
    settings.DEFAULT_FROM_EMAIL = "webmaster@localhost"
    profile = make_profile(name="Down", port=free_port(), from_email="noreply@example.com")
    assert mail.send_mail("Reset", "Body", None, ["to@example.org"], fail_silently=True) == 0
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert entry.profile_id == profile.pk and entry.profile_name == "Down"
    assert entry.sender == "Example Site <noreply@example.com>"
    html = detail(admin_client, entry)
    assert "webmaster@localhost" not in html
    assert ">Down</a>" in html


@pytest.mark.usefixtures("use_backend")
def test_failover_console_line_reads_as_sentences(make_profile, caplog):
    make_profile(name="Down", port=free_port(), priority=1, is_default=False)
    make_profile(name="Backup", port=free_port(), priority=2, is_default=False)
    with caplog.at_level(logging.WARNING, logger="smtpconfig"):
        mail.send_mail("Hi", "Body", None, ["to@example.org"], fail_silently=True)
    line = next(r.getMessage() for r in caplog.records if "trying" in r.getMessage())
    assert ". failed" not in line
    assert line.startswith("SMTP profile “Down” (127.0.0.1:")
    assert "failed at step “connect”; trying “Backup” next. Reason: " in line


def test_host_project_console_log_has_the_time():
    from django.utils.module_loading import import_string

    from mailsettings import settings as host

    handler = host.LOGGING["handlers"]["console"]
    formatter = import_string(host.LOGGING["formatters"][handler["formatter"]]["()"])()
    record = logging.LogRecord("smtpconfig", logging.WARNING, __file__, 1, "failed over", (), None)
    # Whichever DJANGO_LOG_FORMAT: text, JSON and key=value all start with the time.
    assert re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", formatter.format(record))


def test_make_default_is_in_the_profiles_history(admin_client, make_profile):
    make_profile(name="First")
    second = make_profile(name="Second", is_default=False)
    admin_client.post(LIST_URL, {"action": "make_default", "_selected_action": [second.pk]})
    entry = LogEntry.objects.filter(object_id=str(second.pk)).get()
    history = page(
        admin_client.get(reverse("admin:smtpconfig_smtpprofile_history", args=[second.pk]))
    )
    assert entry.get_change_message() in history
    assert "Made the default profile" in history
