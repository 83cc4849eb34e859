"""Profiles that still sign in with a password where Microsoft is switching it off are named
in the admin, by manage.py check and by smtp_test, with a way to switch (issue 12)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from smtpconfig.checks import check_password_sign_in_ending
from smtpconfig.models import SMTPProfile

from .helpers import LIST_URL, change_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def m365_profile(make_profile):
    return make_profile(
        name="Office", host="smtp.office365.com", port=587, username="a@contoso.com"
    )


def test_the_list_names_a_microsoft_365_profile_with_a_password(admin_client, m365_profile):
    html = admin_client.get(LIST_URL).content.decode()
    assert "end of December 2026" in html and "“Office”" in html
    switch = reverse("admin:smtpconfig_smtpprofile_switch_oauth2", args=[m365_profile.pk])
    assert switch in html


def test_outlook_com_is_named_too_and_others_are_not(admin_client, make_profile):
    make_profile(name="Outlook", host="smtp-mail.outlook.com", port=587, username="a@outlook.com")
    make_profile(name="Relay", host="127.0.0.1", username="u", is_default=False)
    html = admin_client.get(LIST_URL).content.decode()
    assert "September 2024" in html and "“Outlook”" in html
    assert "“Relay” signs in" not in html


def test_switch_to_oauth2_opens_the_profile_with_oauth2_chosen_and_saves_nothing(
    admin_client, m365_profile
):
    url = reverse("admin:smtpconfig_smtpprofile_switch_oauth2", args=[m365_profile.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form["auth_method"].value() == "oauth2"
    assert form["oauth_tenant"].value() == "organizations"
    assert form["name"].value() == "Office" and form["is_default"].value()
    assert f'action="{change_url(m365_profile)}"' in response.content.decode()
    assert SMTPProfile.objects.get(pk=m365_profile.pk).auth_method == "password"


def test_check_w007_and_smtp_test_say_the_same(m365_profile):
    [warning] = check_password_sign_in_ending()
    assert warning.id == "smtpconfig.W007" and "December 2026" in warning.msg
    err = StringIO()
    with pytest.raises(SystemExit):  # the test itself fails: nothing listens on 587 here
        call_command("smtp_test", "--to", "a@b.org", "--no-send", stdout=StringIO(), stderr=err)
    assert "December 2026" in err.getvalue()


def test_an_oauth2_profile_is_not_named(m365_profile):
    SMTPProfile.objects.filter(pk=m365_profile.pk).update(auth_method="oauth2")
    assert check_password_sign_in_ending() == []
