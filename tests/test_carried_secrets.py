"""A password or client secret typed in the form survives the page's round trips
(test, detect, use these settings) without ever being put in the page in clear."""

import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from smtpconfig import carried_secrets
from smtpconfig.models import SMTPProfile

from .helpers import ADD_URL, PASSWORD, USER, change_url, form_data

pytestmark = pytest.mark.django_db

TEST_URL = reverse("admin:smtpconfig_smtpprofile_add_test")
DETECT_URL = reverse("admin:smtpconfig_smtpprofile_add_detect")
USE_URL = reverse("admin:smtpconfig_smtpprofile_add_use_settings")
SECRET = "Typed-S3cret-ÿ!"
CARRIED = re.compile(r'<input type="hidden" name="_password_carried" value="([^"]+)">')


def new_profile(server, **overrides):
    """The add form for a new profile at ``server``, with a user name and a typed password."""
    values = {"name": "New", "port": str(server.port), "username": USER, "password": PASSWORD}
    return form_data(**{**values, "is_default": None, **overrides})


def carried_token(html: str) -> str:
    match = CARRIED.search(html)
    assert match, "the page carries no password"
    return match.group(1)


def test_a_password_typed_before_a_test_is_kept_for_the_save(admin_client, auth_server):
    data = new_profile(auth_server)
    html = admin_client.post(
        TEST_URL, {**data, "_check_connection": "1", "_test_to": "a@example.org"}
    ).content.decode()
    assert 'id="smtpconfig-report"' in html
    assert PASSWORD not in html
    assert json.dumps(PASSWORD)[1:-1] not in html
    assert "The password you typed is kept for this form" in html
    assert "No password is stored" not in html
    token = carried_token(html)

    response = admin_client.post(
        ADD_URL, {**data, "password": "", "_password_carried": token, "_save": "Save"}
    )
    assert response.status_code == 302
    assert SMTPProfile.objects.get(name="New").password == PASSWORD


def test_the_token_is_useless_in_another_session(admin_client, admin_user, auth_server):
    data = new_profile(auth_server)
    html = admin_client.post(
        TEST_URL, {**data, "_check_connection": "1", "_test_to": "a@example.org"}
    ).content.decode()
    token = carried_token(html)

    other = Client()
    other.force_login(User.objects.create_superuser("other", "o@example.com", "x"))
    response = other.post(
        ADD_URL, {**data, "password": "", "_password_carried": token, "_save": "Save"}
    )
    assert response.status_code == 200
    assert "could not be kept: type it again" in response.content.decode()
    assert not SMTPProfile.objects.filter(name="New").exists()

    # Nor in the same user's next session, nor for another form.
    admin_client.logout()
    admin_client.force_login(admin_user)
    response = admin_client.post(
        ADD_URL, {**data, "password": "", "_password_carried": token, "_save": "Save"}
    )
    assert "could not be kept" in response.content.decode()


def test_the_token_is_not_used_for_another_form(admin_client, make_profile, auth_server):
    data = new_profile(auth_server)
    token = carried_token(
        admin_client.post(TEST_URL, {**data, "_check_connection": "1"}).content.decode()
    )
    profile = make_profile(name="Other", port=auth_server.port, username=USER)
    response = admin_client.post(
        change_url(profile),
        {**data, "name": "Other", "password": "", "_password_carried": token, "_save": "Save"},
    )
    assert "could not be kept" in response.content.decode()
    assert not SMTPProfile.objects.get(pk=profile.pk).has_password


def test_the_token_expires(admin_client, auth_server, monkeypatch):
    data = new_profile(auth_server)
    token = carried_token(
        admin_client.post(TEST_URL, {**data, "_check_connection": "1"}).content.decode()
    )
    monkeypatch.setattr(carried_secrets, "MAX_AGE", -1)
    response = admin_client.post(
        ADD_URL, {**data, "password": "", "_password_carried": token, "_save": "Save"}
    )
    assert "is kept for 15 minutes only: type it again" in response.content.decode()
    assert not SMTPProfile.objects.filter(name="New").exists()


def test_the_carried_password_goes_only_to_the_server_it_was_typed_for(admin_client, auth_server):
    data = new_profile(auth_server)
    token = carried_token(
        admin_client.post(TEST_URL, {**data, "_check_connection": "1"}).content.decode()
    )
    response = admin_client.post(
        TEST_URL,
        {
            **data,
            "host": "127.0.0.2",
            "password": "",
            "_password_carried": token,
            "_check_connection": "1",
            "_test_to": "a@example.org",
        },
    )
    html = response.content.decode()
    assert "You changed the server settings since you typed the password" in html
    assert "_password_carried" not in html


def test_a_blank_box_without_a_token_still_saves_no_password(admin_client, auth_server):
    data = new_profile(auth_server, password="")
    assert admin_client.post(ADD_URL, {**data, "_save": "Save"}).status_code == 302
    assert not SMTPProfile.objects.get(name="New").has_password


def test_a_new_password_on_the_change_page_survives_a_test(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password="old-password")
    data = form_data(port=str(auth_server.port), username=USER, password=PASSWORD)
    html = admin_client.post(
        reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk]),
        {**data, "_send_test": "1", "_test_to": "a@example.org"},
    ).content.decode()
    assert "accepted the test email" in html  # the typed password, not the stored one
    token = carried_token(html)
    response = admin_client.post(
        change_url(profile), {**data, "password": "", "_password_carried": token, "_save": "1"}
    )
    assert response.status_code == 302
    assert SMTPProfile.objects.get(pk=profile.pk).password == PASSWORD


def test_detect_and_use_these_settings_keep_the_password(admin_client, auth_server):
    data = new_profile(auth_server, host="", from_email=USER)
    html = admin_client.post(DETECT_URL, {**data, "_detect": "1"}).content.decode()
    token = carried_token(html)
    candidate = json.dumps(
        {"host": "127.0.0.1", "port": auth_server.port, "security": "none", "username": USER}
    )
    html = admin_client.post(
        USE_URL, {**data, "password": "", "_password_carried": token, "_use_settings": candidate}
    ).content.decode()
    assert PASSWORD not in html
    token = carried_token(html)  # now for the chosen server
    response = admin_client.post(
        ADD_URL,
        {
            **data,
            "host": "127.0.0.1",
            "password": "",
            "_password_carried": token,
            "_save": "1",
        },
    )
    assert response.status_code == 302
    assert SMTPProfile.objects.get(name="New").password == PASSWORD


def test_ticking_clear_drops_the_carried_password(admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password="old-password")
    data = form_data(port=str(auth_server.port), username=USER, password=PASSWORD)
    token = carried_token(
        admin_client.post(
            reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk]),
            {**data, "_check_connection": "1"},
        ).content.decode()
    )
    response = admin_client.post(
        change_url(profile),
        {**data, "password": "", "clear_password": "on", "_password_carried": token, "_save": "1"},
    )
    assert response.status_code == 302
    assert not SMTPProfile.objects.get(pk=profile.pk).has_password


CLIENT_SECRET = "Client-S3cret-ÿ"


def oauth_form(**overrides):
    values = {
        "name": "App",
        "host": "smtp.example.com",
        "port": "587",
        "security": "starttls",
        "allow_plaintext_auth": None,
        "username": USER,
        "from_email": USER,
        "is_default": None,
        "auth_method": "oauth2",
        "oauth_provider": "custom",
        "oauth_grant": "client_credentials",
        "oauth_client_id": "client-1",
        "oauth_client_secret": CLIENT_SECRET,
        "oauth_token_endpoint": "https://login.example.com/token",
    }
    return form_data(**{**values, **overrides})


@pytest.mark.parametrize("url", [TEST_URL, DETECT_URL], ids=["test", "detect"])
def test_a_typed_client_secret_is_kept_for_the_save(admin_client, url):
    # The test view without a recipient: the page comes back, the form valid, no test run.
    html = admin_client.post(url, {**oauth_form(), "_check_connection": "1", "_detect": "1"})
    html = html.content.decode()
    assert CLIENT_SECRET not in html
    assert "The client secret you typed is kept for this form" in html
    match = re.search(
        r'<input type="hidden" name="_oauth_client_secret_carried" value="([^"]+)">', html
    )
    assert match
    response = admin_client.post(
        ADD_URL,
        {
            **oauth_form(oauth_client_secret=""),
            "_oauth_client_secret_carried": match.group(1),
            "_save": "1",
        },
    )
    assert response.status_code == 302
    assert SMTPProfile.objects.get(name="App").oauth_client_secret == CLIENT_SECRET
