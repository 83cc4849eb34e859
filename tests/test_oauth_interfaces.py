"""The OAuth2 names other work depends on: the profile's fields, OAUTH_ALLOW_HTTP, and
smtp_oauth_connect's --flow and exit statuses."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from smtpconfig.exceptions import TokenRefused
from smtpconfig.models import SMTPProfile
from smtpconfig.transport.settings import LoginMethod, Security
from smtpconfig.transport.tokens import post_form

from .helpers import ADD_URL, form_data, make_oauth_profile

pytestmark = pytest.mark.django_db


def make_profile(**fields) -> SMTPProfile:
    return make_oauth_profile(
        **{
            "host": "127.0.0.1",
            "port": 2525,
            "security": Security.NONE,
            "is_default": False,
            "oauth_token_endpoint": "https://id.example.com/token",
            "oauth_authorization_endpoint": "https://id.example.com/authorize",
            "oauth_device_authorization_endpoint": "https://id.example.com/device",
            "oauth_scopes": "smtp offline_access",
            **fields,
        }
    )


def test_the_profile_has_the_fields_named_in_the_issue():
    profile = make_profile()
    profile.oauth_account = "mailer@example.com"
    profile.save()
    profile = SMTPProfile.objects.get(pk=profile.pk)
    found = profile.oauth_endpoints()
    assert found.token_url == "https://id.example.com/token"
    assert found.authorize_url == "https://id.example.com/authorize"
    assert found.device_code_url == "https://id.example.com/device"
    assert found.scope == "smtp offline_access"
    assert profile.oauth_client_secret == "client-secret"
    assert profile.oauth_account == "mailer@example.com"


def test_an_http_token_endpoint_is_refused_unless_allowed(settings):
    with pytest.raises(TokenRefused, match="https://"):
        post_form("http://127.0.0.1:9/token", {"grant_type": "x"}, 1)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}
    # Allowed now: it is tried (and the closed port refuses the connection).
    with pytest.raises(OSError):
        post_form("http://127.0.0.1:9/token", {"grant_type": "x"}, 1)


def test_the_form_asks_for_https_endpoints_unless_http_is_allowed(admin_client, settings):
    data = form_data(
        auth_method="oauth2",
        oauth_provider="custom",
        oauth_grant="refresh_token",
        oauth_client_id="client-1",
        oauth_token_endpoint="http://127.0.0.1:8080/token",
        username="mailer@example.com",
        password="",
    )
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "Use an https:// address" in response.content.decode()
    assert not SMTPProfile.objects.exists()
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert SMTPProfile.objects.get().oauth_token_endpoint == "http://127.0.0.1:8080/token"


@pytest.mark.parametrize(
    "arguments, setup",
    [
        (["--profile", "Nobody"], None),
        (["--profile", "OAuth"], {"auth_method": LoginMethod.PASSWORD}),
        (["--profile", "OAuth"], {"oauth_client_id": ""}),
    ],
)
def test_smtp_oauth_connect_exits_2_on_a_usage_or_configuration_error(arguments, setup):
    if setup is not None:
        make_profile(**setup)
    with pytest.raises(CommandError) as raised:
        call_command("smtp_oauth_connect", *arguments, stdout=StringIO())
    assert raised.value.returncode == 2


def test_smtp_oauth_connect_exits_1_when_the_provider_cannot_be_reached():
    make_profile(
        oauth_token_endpoint="https://127.0.0.1:9/token",
        oauth_device_authorization_endpoint="https://127.0.0.1:9/device",
        timeout=2,
    )
    for flow in ("device", "client-credentials"):
        with pytest.raises(CommandError) as raised:
            call_command("smtp_oauth_connect", "--profile", "OAuth", "--flow", flow)
        assert raised.value.returncode == 1, flow
