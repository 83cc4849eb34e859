"""The profile list and the admin index: real sending health, banners, the list's
editable order, actions and filters, and the first-run guide."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from smtpconfig.admin.health import mail_failing_now, sending_health
from smtpconfig.models import DeliveryLog, DeliveryOutcome, SMTPProfile

from .helpers import ADD_URL, LIST_URL, PASSWORD, USER, client_with, page

INDEX_URL = reverse("admin:index")
pytestmark = pytest.mark.django_db


def log_row(outcome, profile=None, *, tried=(), ago=timedelta(minutes=1), reply=""):
    return DeliveryLog.objects.create(
        created_at=timezone.now() - ago,
        profile=profile if outcome != DeliveryOutcome.FAILED else None,
        profile_name=profile.name if profile else "",
        tried=[
            {"profile": p.name, "server": p.server, "step": "auth", "error": "535"} for p in tried
        ],
        outcome=outcome,
        reply=reply,
    )


# Real deliveries through the backend.


def test_mail_failing_on_every_profile_shows_on_the_list_and_the_index(
    admin_client, make_profile, auth_server, use_backend
):
    """A password reset that failed on every enabled profile: the list and the index say so."""
    make_profile(name="Main", port=auth_server.port, username=USER, password="wrong")
    with pytest.raises(smtplib.SMTPException):
        mail.send_mail("Password reset", "Body", None, ["user@example.org"])
    assert DeliveryLog.objects.get().outcome == DeliveryOutcome.FAILED
    for url in (LIST_URL, INDEX_URL):
        html = page(admin_client.get(url))
        assert "The site&#x27;s mail is failing" in html, url
        assert "?outcome__exact=failed" in html, url  # the link to the failed deliveries
    assert "1 failed" in page(admin_client.get(LIST_URL))


def test_a_stale_failed_test_banner_gives_way_to_deliveries_that_went_out(
    admin_client, make_profile, auth_server, use_backend
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    SMTPProfile.objects.filter(pk=profile.pk).update(
        last_test_ok=False, last_test_at=timezone.now() - timedelta(hours=1)
    )
    assert "The last test of the default profile" in page(admin_client.get(LIST_URL))
    mail.send_mail("Hello", "Body", None, ["user@example.org"])
    mail.send_mail("Hello again", "Body", None, ["user@example.org"])
    html = page(admin_client.get(LIST_URL))
    assert "The last test of the default profile" not in html
    assert "2 sent, 0 failed" in html
    assert "The last test of the default profile" not in page(admin_client.get(INDEX_URL))


def test_a_failed_test_after_the_last_delivery_keeps_its_banner(admin_client, make_profile):
    profile = make_profile()
    log_row(DeliveryOutcome.SENT, profile, ago=timedelta(hours=2))
    SMTPProfile.objects.filter(pk=profile.pk).update(
        last_test_ok=False, last_test_at=timezone.now()
    )
    assert "The last test of the default profile" in page(admin_client.get(LIST_URL))


# The health itself.


def test_health_counts_sent_and_failures_per_profile_in_the_last_day(make_profile):
    main = make_profile(name="Main")
    backup = make_profile(name="Backup", is_default=False)
    log_row(DeliveryOutcome.SENT, main)
    log_row(DeliveryOutcome.SENT, main)
    log_row(DeliveryOutcome.FAILED_OVER, backup, tried=[main])
    log_row(DeliveryOutcome.FAILED, tried=[main, backup], ago=timedelta(minutes=5))
    log_row(DeliveryOutcome.SENT, main, ago=timedelta(hours=30))  # older than the window
    health = sending_health([main, backup])
    assert (health[main.pk].sent, health[main.pk].failed) == (2, 2)
    assert (health[backup.pk].sent, health[backup.pk].failed) == (1, 1)
    assert health[main.pk].last_failure > health[backup.pk].last_failure


def test_the_list_reads_the_health_in_a_fixed_number_of_queries(admin_client, make_profile):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(LIST_URL).status_code == 200
        return len(queries)

    main = make_profile(name="Main")
    log_row(DeliveryOutcome.SENT, main)
    few = count_queries()
    for index in range(6):
        profile = make_profile(name=f"Other {index}", is_default=False)
        log_row(DeliveryOutcome.SENT, profile)
        log_row(DeliveryOutcome.FAILED_OVER, profile, tried=[main])
    assert count_queries() == few


def test_mail_failing_now_counts_failures_since_the_last_delivery(make_profile):
    main = make_profile()
    assert mail_failing_now() is None
    log_row(DeliveryOutcome.FAILED, tried=[main], ago=timedelta(minutes=10))
    log_row(DeliveryOutcome.SENT, main, ago=timedelta(minutes=5))
    assert mail_failing_now() is None
    log_row(DeliveryOutcome.FAILED, tried=[main], ago=timedelta(minutes=2), reply="first")
    log_row(DeliveryOutcome.FAILED, tried=[main], ago=timedelta(minutes=1), reply="535 no")
    failing = mail_failing_now()
    assert (failing.count, failing.reason) == (2, "535 no")


def test_an_old_failure_is_not_failing_now(make_profile):
    main = make_profile()
    log_row(DeliveryOutcome.FAILED, tried=[main], ago=timedelta(days=2))
    assert mail_failing_now() is None


# The list: order, actions, filters.


def test_the_failover_order_is_editable_in_the_list(admin_client, make_profile):
    main = make_profile(name="Main", priority=10)
    backup = make_profile(name="Backup", is_default=False, priority=20)
    response = admin_client.get(LIST_URL)
    assert 'name="form-0-priority"' in page(response)
    rows = list(response.context["cl"].result_list)
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "_save": "Save",
    }
    for index, profile in enumerate(rows):
        data[f"form-{index}-id"] = str(profile.pk)
        data[f"form-{index}-priority"] = "5" if profile == backup else "50"
    response = admin_client.post(LIST_URL, data)
    assert response.status_code == 302
    main.refresh_from_db()
    backup.refresh_from_db()
    assert (main.priority, backup.priority) == (50, 5)


def test_enable_and_disable_actions(admin_client, make_profile):
    main = make_profile(name="Main")
    backup = make_profile(name="Backup", is_default=False, enabled=False)
    post = {"action": "enable", "_selected_action": [main.pk, backup.pk]}
    response = admin_client.post(LIST_URL, post, follow=True)
    backup.refresh_from_db()
    assert backup.enabled
    assert "1 profile enabled." in page(response)
    assert "“Backup” has never been tested." in page(response)  # with the way to test it
    response = admin_client.post(
        LIST_URL, {"action": "disable", "_selected_action": [main.pk]}, follow=True
    )
    main.refresh_from_db()
    assert not main.enabled
    assert "1 profile disabled." in page(response)
    assert LogEntry.objects.filter(object_id=str(main.pk)).exists()


def test_a_view_only_user_has_no_switch_actions(make_profile):
    make_profile()
    html = page(client_with("view_smtpprofile").get(LIST_URL))
    assert 'value="enable"' not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("enabled__exact=0", {"Off"}),
        ("is_default__exact=1", {"Main"}),
        ("last_test=passed", {"Gmail"}),
        ("last_test=failed", {"Main"}),
        ("last_test=never", {"Off"}),
        ("provider=gmail", {"Gmail"}),
        ("provider=other", {"Main", "Off"}),
    ],
)
def test_filters(admin_client, make_profile, query, expected):
    now = timezone.now()
    make_profile(name="Main", last_test_ok=False, last_test_at=now)
    make_profile(
        name="Gmail", host="smtp.gmail.com", is_default=False, last_test_ok=True, last_test_at=now
    )
    make_profile(name="Off", is_default=False, enabled=False)
    response = admin_client.get(f"{LIST_URL}?{query}")
    shown = {p.name for p in response.context["cl"].result_list}
    assert shown == expected


def test_the_provider_filter_offers_only_providers_in_use(admin_client, make_profile):
    make_profile(name="Gmail", host="smtp.gmail.com")
    html = page(admin_client.get(LIST_URL))
    assert "?provider=gmail" in html
    assert "?provider=sendgrid" not in html


# The first-run guide.


@pytest.mark.parametrize("url", [LIST_URL, INDEX_URL])
def test_the_first_run_guide_leads_into_the_add_form_until_a_profile_exists(
    admin_client, make_profile, url
):
    html = page(admin_client.get(url))
    assert 'id="smtpconfig-first-run"' in html
    assert f"{ADD_URL}?preset=gmail&amp;host=smtp.gmail.com&amp;port=465" in html
    assert f'action="{ADD_URL}detect/"' in html
    make_profile()
    assert 'id="smtpconfig-first-run"' not in page(admin_client.get(url))


def test_a_provider_link_opens_the_add_form_filled_in(admin_client):
    response = admin_client.get(f"{ADD_URL}?preset=sendgrid&host=smtp.sendgrid.net&port=587")
    form = response.context["adminform"].form
    assert form["host"].value() == "smtp.sendgrid.net"
    assert form["preset"].value() == "sendgrid"


def test_the_guides_detect_form_finds_settings_for_an_address(admin_client):
    response = admin_client.post(
        f"{ADD_URL}detect/", {"from_email": "someone@gmail.com", "_detect": "1"}
    )
    html = page(response)
    assert response.status_code == 200
    assert "smtp.gmail.com" in html
    assert 'value="someone@gmail.com"' in html


def test_a_user_who_may_not_add_is_told_whom_to_ask():
    html = page(client_with("view_smtpprofile").get(LIST_URL))
    assert "Ask an administrator" in html
    assert "detect/" not in html


def test_the_index_status_lists_each_profile_with_its_deliveries(admin_client, make_profile):
    main = make_profile(name="Main")
    log_row(DeliveryOutcome.SENT, main)
    html = page(admin_client.get(INDEX_URL))
    assert 'id="smtpconfig-mail-status"' in html
    assert "1 sent, 0 failed" in html


def test_the_index_status_is_hidden_from_users_without_the_profiles(make_profile):
    make_profile()
    client = client_with("view_user")
    assert 'id="smtpconfig-mail-status"' not in page(client.get(INDEX_URL))
