"""A test made before saving is kept by the save of the same settings; a profile not
known to work warns when it becomes the default, is enabled, or is saved after a failure."""

import pytest
from django.urls import reverse

from smtpconfig.models import SMTPProfile
from smtpconfig.tester import profile_settings_digest

from .helpers import ADD_URL, LIST_URL, PASSWORD, USER, change_url, form_data

pytestmark = pytest.mark.django_db

ADD_TEST_URL = reverse("admin:smtpconfig_smtpprofile_add_test")
AJAX = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def view_of_test(profile):
    return reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk])


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


@pytest.mark.parametrize("ajax", [True, False], ids=["javascript", "no-javascript"])
def test_a_test_on_the_add_page_is_kept_when_the_tested_values_are_saved(
    admin_client, auth_server, ajax
):
    data = form_data(
        name="New", port=str(auth_server.port), username=USER, password=PASSWORD, is_default=None
    )
    response = admin_client.post(
        ADD_TEST_URL,
        {**data, "_send_test": "1", "_test_to": "a@example.org"},
        **(AJAX if ajax else {}),
    )
    assert response.status_code == 200
    response = admin_client.post(ADD_URL, {**data, "_save": "1"}, follow=True)
    profile = SMTPProfile.objects.get(name="New")
    assert profile.last_test_ok is True
    assert profile.last_test_at is not None
    assert "accepted" in profile.last_test_message
    assert profile.last_test_report["ok"] is True
    assert profile.last_test_settings_digest == profile_settings_digest(profile)
    assert "never been tested" not in messages_of(response)


def test_a_test_of_other_values_is_not_kept(admin_client, auth_server):
    data = form_data(
        name="New", port=str(auth_server.port), username=USER, password=PASSWORD, is_default=None
    )
    admin_client.post(ADD_TEST_URL, {**data, "_check_connection": "1", "_test_to": "a@b.org"})
    response = admin_client.post(
        ADD_URL, {**data, "from_email": "other@example.com", "_save": "1"}, follow=True
    )
    profile = SMTPProfile.objects.get(name="New")
    assert profile.last_test_at is None
    assert "“New” has never been tested." in messages_of(response)


def test_the_digest_covers_the_password(make_profile):
    profile = make_profile(username=USER, password="one")
    before = profile_settings_digest(profile)
    profile.password = "two"
    profile.save()
    assert profile_settings_digest(profile) != before
    assert "one" not in before and "two" not in before


def test_saving_after_a_failed_test_warns_with_a_link_to_test(
    admin_client, make_profile, auth_server
):
    profile = make_profile(port=auth_server.port, username=USER, password="wrong")
    data = form_data(port=str(auth_server.port), username=USER)
    admin_client.post(
        view_of_test(profile), {**data, "_check_connection": "1", "_test_to": "a@b.org"}
    )
    assert SMTPProfile.objects.get(pk=profile.pk).last_test_ok is False
    response = admin_client.post(change_url(profile), {**data, "_save": "1"}, follow=True)
    text = messages_of(response)
    assert "The last test of “Main” failed." in text
    assert f'href="{change_url(profile)}#smtpconfig-test"' in response.content.decode()


def test_a_passing_test_then_a_save_says_nothing(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    data = form_data(port=str(auth_server.port), username=USER, is_default=None)
    admin_client.post(
        view_of_test(profile), {**data, "_check_connection": "1", "_test_to": "a@b.org"}
    )
    response = admin_client.post(change_url(profile), {**data, "_save": "1"}, follow=True)
    assert "test it now" not in messages_of(response)


def make_default(admin_client, profile):
    return admin_client.post(
        LIST_URL,
        {"action": "make_default", "_selected_action": [profile.pk], "index": "0"},
        follow=True,
    )


def test_make_default_warns_about_a_failed_test(admin_client, make_profile):
    make_profile(name="Current")
    failing = make_profile(
        name="Failing", is_default=False, last_test_ok=False, last_test_at="2026-01-01T00:00Z"
    )
    text = messages_of(make_default(admin_client, failing))
    assert "“Failing” is now the default profile." in text
    assert "The last test of “Failing” failed." in text
    assert SMTPProfile.objects.get(pk=failing.pk).is_default  # warned, not refused


def test_make_default_warns_about_a_profile_never_tested(admin_client, make_profile):
    make_profile(name="Current")
    fresh = make_profile(name="Fresh", is_default=False)
    assert "“Fresh” has never been tested." in messages_of(make_default(admin_client, fresh))


def test_make_default_warns_when_the_settings_changed_since_the_test(
    admin_client, make_profile, auth_server
):
    make_profile(name="Current")
    profile = make_profile(name="Backup", is_default=False, port=auth_server.port)
    data = form_data(name="Backup", port=str(auth_server.port), is_default=None)
    admin_client.post(
        view_of_test(profile), {**data, "_check_connection": "1", "_test_to": "a@b.org"}
    )
    assert "test it now" not in messages_of(make_default(admin_client, profile))

    SMTPProfile.objects.filter(pk=profile.pk).update(is_default=False, port=2525)
    SMTPProfile.objects.filter(name="Current").update(is_default=True)
    text = messages_of(make_default(admin_client, profile))
    assert "The settings of “Backup” changed since its last passing test." in text


def test_enabling_an_untested_profile_warns(admin_client, make_profile):
    profile = make_profile(enabled=False, is_default=False)
    data = form_data(is_default=None)
    response = admin_client.post(change_url(profile), {**data, "_save": "1"}, follow=True)
    assert "“Main” has never been tested." in messages_of(response)
    assert SMTPProfile.objects.get(pk=profile.pk).enabled
