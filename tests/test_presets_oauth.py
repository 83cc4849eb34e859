"""Presets choose the sign-in: OAuth2 for Microsoft 365 and Outlook.com, both for Gmail
(issue 12), in the page's data for the script and on the server without JavaScript."""

import json
import re

import pytest

from smtpconfig.models import SMTPProfile
from smtpconfig.providers.presets import PRESETS, get_preset

from .helpers import ADD_URL, form_data, page

pytestmark = pytest.mark.django_db

CONNECTED_ACCOUNT = "refresh_token"


# The data.


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "microsoft365",
            {
                "auth_method": "oauth2",
                "oauth_provider": "microsoft",
                "oauth_tenant": "organizations",
                "oauth_grant": CONNECTED_ACCOUNT,
            },
        ),
        (
            "outlook",
            {
                "auth_method": "oauth2",
                "oauth_provider": "microsoft",
                "oauth_tenant": "consumers",
                "oauth_grant": CONNECTED_ACCOUNT,
            },
        ),
        ("gmail", {"auth_method": "password"}),
        (
            "gmail_oauth2",
            {"auth_method": "oauth2", "oauth_provider": "google", "oauth_grant": CONNECTED_ACCOUNT},
        ),
    ],
)
def test_each_preset_says_how_it_signs_in(key, expected):
    assert get_preset(key).sign_in() == expected


def test_every_other_preset_signs_in_with_a_password():
    oauth2 = {preset.key for preset in PRESETS if preset.auth_method == "oauth2"}
    assert oauth2 == {"microsoft365", "outlook", "gmail_oauth2"}


def test_the_gmail_note_offers_both_ways_and_says_what_each_needs():
    note = str(get_preset("gmail").login_note)
    for needed in (
        "app password",
        "OAuth2",
        "Gmail / Google Workspace with OAuth2",  # the other preset, by its name
        "2-Step Verification",
        "security keys only",
        "Advanced Protection",
        "password changes",
        "https://mail.google.com/",
        "“Testing”",
        "7 days",
    ):
        assert needed in note, needed
    assert str(get_preset("gmail_oauth2").label) == "Gmail / Google Workspace with OAuth2"
    oauth_note = str(get_preset("gmail_oauth2").login_note)
    assert "https://mail.google.com/" in oauth_note and "7 days" in oauth_note


@pytest.mark.parametrize("key", ["microsoft365", "outlook"])
def test_the_microsoft_notes_say_oauth2_and_what_the_app_needs(key):
    note = str(get_preset(key).login_note)
    assert "OAuth2" in note and "SMTP.Send" in note and "offline_access" in note
    assert "Microsoft Entra admin center" in note
    assert get_preset(key).help_url.startswith("https://learn.microsoft.com/")


def test_the_page_gives_the_script_each_presets_sign_in(admin_client):
    html = page(admin_client.get(ADD_URL))
    data = re.search(
        r'<script id="smtpconfig-presets" type="application/json">(.*?)</script>', html
    )
    presets = {entry["key"]: entry for entry in json.loads(data.group(1))}
    assert presets["microsoft365"]["sign_in"]["auth_method"] == "oauth2"
    assert presets["outlook"]["sign_in"]["oauth_tenant"] == "consumers"
    assert presets["gmail"]["sign_in"] == {"auth_method": "password"}
    assert 'value="gmail_oauth2"' in html


# Without JavaScript: the server fills the form in (a round trip).


def selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


def sign_in_as_offered(**overrides):
    """What the add page posts when the admin left the sign-in fields as offered."""
    offered = {
        "auth_method": "password",
        "oauth_provider": "microsoft",
        "oauth_grant": CONNECTED_ACCOUNT,
        "oauth_tenant": "organizations",
        "oauth_client_id": "",
        "oauth_client_secret": "",
        "oauth_scopes": "",
    }
    return form_data(**{**offered, **overrides})


def test_microsoft_365_without_javascript_comes_back_with_oauth2_filled_in(admin_client):
    response = admin_client.post(
        ADD_URL,
        sign_in_as_offered(preset="microsoft365", host="", from_email="boss@contoso.com"),
    )
    assert response.status_code == 200
    html = page(response)
    assert selected(html, "auth_method") == "oauth2"
    assert selected(html, "oauth_provider") == "microsoft"
    assert selected(html, "oauth_grant") == CONNECTED_ACCOUNT
    assert 'name="oauth_tenant" value="organizations"' in html
    assert 'name="host" value="smtp.office365.com"' in html
    assert 'name="username" value="boss@contoso.com"' in html
    assert "Enter the app&#x27;s client id." in html  # the one thing left to do
    assert not SMTPProfile.objects.exists()


def test_the_round_trip_then_saves_an_oauth2_profile(admin_client):
    admin_client.post(ADD_URL, sign_in_as_offered(preset="outlook", host=""))
    response = admin_client.post(
        ADD_URL,
        sign_in_as_offered(
            preset="outlook",
            host="smtp-mail.outlook.com",
            port="587",
            security="starttls",
            username="me@outlook.com",
            auth_method="oauth2",
            oauth_tenant="consumers",
            oauth_client_id="00000000-app",
        ),
    )
    assert response.status_code == 302, page(response)
    profile = SMTPProfile.objects.get()
    assert (profile.auth_method, profile.oauth_provider, profile.oauth_tenant) == (
        "oauth2",
        "microsoft",
        "consumers",
    )


def test_a_post_without_the_sign_in_fields_gets_the_presets_too(admin_client):
    response = admin_client.post(ADD_URL, form_data(preset="outlook", host=""))
    html = page(response)
    assert selected(html, "auth_method") == "oauth2"
    assert 'name="oauth_tenant" value="consumers"' in html


def test_gmail_with_oauth2_chooses_google(admin_client):
    html = page(admin_client.post(ADD_URL, sign_in_as_offered(preset="gmail_oauth2", host="")))
    assert selected(html, "auth_method") == "oauth2"
    assert selected(html, "oauth_provider") == "google"
    assert 'name="host" value="smtp.gmail.com"' in html


def test_gmail_keeps_the_app_password_and_saves_at_once(admin_client):
    response = admin_client.post(ADD_URL, sign_in_as_offered(preset="gmail", host=""))
    assert response.status_code == 302, page(response)
    assert SMTPProfile.objects.get().auth_method == "password"


def test_a_sign_in_the_admin_chose_is_kept(admin_client):
    # "No login" is not what the page offered: the admin chose it, the preset keeps it.
    response = admin_client.post(
        ADD_URL, sign_in_as_offered(preset="microsoft365", host="", auth_method="none")
    )
    assert response.status_code == 302, page(response)
    profile = SMTPProfile.objects.get()
    assert (profile.host, profile.auth_method) == ("smtp.office365.com", "none")


def test_a_tenant_the_admin_typed_is_kept(admin_client):
    html = page(
        admin_client.post(
            ADD_URL, sign_in_as_offered(preset="microsoft365", host="", oauth_tenant="contoso.com")
        )
    )
    assert selected(html, "auth_method") == "oauth2"
    assert 'name="oauth_tenant" value="contoso.com"' in html
