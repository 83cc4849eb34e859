"""Connecting a profile's OAuth2 account in the admin: authorization code with PKCE and a
single-use state (issue 12). The provider's token endpoint is a real HTTPS server on
127.0.0.1; the consent page itself is the provider's, so the test plays the browser coming
back from it."""

import base64
import hashlib
import urllib.parse

import pytest
from django.urls import reverse

from smtpconfig.models import SMTPProfile

from .helpers import change_url, make_oauth_profile

pytestmark = pytest.mark.django_db

CALLBACK = reverse("admin:smtpconfig_smtpprofile_oauth_callback")


@pytest.fixture
def token_endpoint(token_endpoint):
    token_endpoint.answer = (
        200,
        {"access_token": "at", "expires_in": 3600, "refresh_token": "1//from-consent"},
    )
    return token_endpoint


@pytest.fixture
def profile(token_endpoint):
    return make_oauth_profile(
        name="Connect me",
        oauth_authorization_endpoint="https://login.example.com/authorize",
        oauth_token_endpoint=token_endpoint.url,
    )


def start(admin_client, profile) -> dict:
    url = reverse("admin:smtpconfig_smtpprofile_oauth_connect", args=[profile.pk])
    response = admin_client.get(url)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://login.example.com/authorize"
    )
    return dict(urllib.parse.parse_qsl(location.query))


def test_connect_sends_the_admin_to_consent_with_pkce_and_state(admin_client, profile):
    query = start(admin_client, profile)
    assert query["response_type"] == "code" and query["client_id"] == "client-1"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) > 30
    assert query["redirect_uri"] == "http://testserver" + CALLBACK
    assert query["scope"] == "SMTP.Send offline_access"


def test_the_callback_stores_the_refresh_token_and_says_so(admin_client, profile, token_endpoint):
    query = start(admin_client, profile)
    response = admin_client.get(
        CALLBACK, {"state": query["state"], "code": "the-code"}, follow=True
    )
    assert "The account is connected" in response.content.decode()
    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert stored.oauth_refresh_token == "1//from-consent"
    assert stored.oauth_connected_at is not None
    [form] = token_endpoint.requests
    assert form["grant_type"] == "authorization_code" and form["code"] == "the-code"
    # The verifier matches the challenge the provider was given.
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]


def test_a_replayed_or_unknown_state_changes_nothing(admin_client, profile, token_endpoint):
    query = start(admin_client, profile)
    admin_client.get(CALLBACK, {"state": query["state"], "code": "first"})
    SMTPProfile.objects.filter(pk=profile.pk).update(oauth_refresh_token_encrypted="")
    replay = admin_client.get(CALLBACK, {"state": query["state"], "code": "again"}, follow=True)
    assert "does not belong to a connection started here" in replay.content.decode()
    forged = admin_client.get(CALLBACK, {"state": "forged", "code": "x"}, follow=True)
    assert "does not belong to a connection started here" in forged.content.decode()
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""
    assert len(token_endpoint.requests) == 1


def test_consent_refused_at_the_provider_changes_nothing(admin_client, profile, token_endpoint):
    query = start(admin_client, profile)
    response = admin_client.get(
        CALLBACK,
        {"state": query["state"], "error": "access_denied", "error_description": "no"},
        follow=True,
    )
    assert "access_denied" in response.content.decode()
    assert token_endpoint.requests == []
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""


def test_the_profile_page_shows_the_redirect_uri_and_the_button(admin_client, profile, settings):
    html = admin_client.get(change_url(profile)).content.decode()
    assert "http://testserver" + CALLBACK in html and "Connect account" in html
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_REDIRECT_BASE": "https://mail.example.org"}
    assert (
        "https://mail.example.org" + CALLBACK
        in admin_client.get(change_url(profile)).content.decode()
    )
