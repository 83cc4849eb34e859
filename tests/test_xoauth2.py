"""Logging in with an OAuth2 access token (SASL XOAUTH2) on the one road to the server
(issue 12, first part): the test and the backend's transport, against a real server."""

import base64
import smtplib
from io import StringIO

import pytest

from smtpconfig.exceptions import TokenMissing
from smtpconfig.probe import run_probe
from smtpconfig.transport.session import open_session
from smtpconfig.transport.settings import ConnectionSettings, LoginMethod, Security
from smtpconfig.transport.steps import Step, StepFailed
from smtpconfig.transport.tokens import TokenRequest

from .helpers import form_data, make_oauth_profile
from .smtpd import OAuth2Handler, free_port, running_smtp_server

USER, TOKEN = "mailer@example.com", "ya29.a0-test-access-token"


@pytest.fixture
def oauth_server():
    handler = OAuth2Handler({USER: TOKEN})
    with running_smtp_server(handler=handler, auth_require_tls=False) as server:
        yield server


def oauth_settings(server, token=TOKEN, **overrides) -> ConnectionSettings:
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": Security.NONE,
        "username": USER,
        "login_method": LoginMethod.OAUTH2,
        "oauth_token": token,
        "allow_plaintext_auth": True,
        "from_email": USER,
        "timeout": 5,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


def test_the_transport_logs_in_with_xoauth2(oauth_server):
    client = open_session(oauth_settings(oauth_server))
    try:
        assert client.auth_mechanism == "XOAUTH2"
    finally:
        client.quit()
    assert oauth_server.handler.attempts == [USER]


def test_a_test_with_a_token_passes_and_masks_it(oauth_server):
    report = run_probe(oauth_settings(oauth_server), "to@example.org")
    assert report.ok, report.summary()
    assert report.auth_mechanism == "XOAUTH2"
    sasl = base64.b64encode(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()).decode()
    assert TOKEN not in str(report.as_dict()) and sasl not in str(report.as_dict())
    assert "C: AUTH XOAUTH2 ****" in report.transcript
    assert len(oauth_server.messages) == 1


def test_a_rejected_token_fails_at_authentication_and_is_never_shown(oauth_server):
    report = run_probe(oauth_settings(oauth_server, token="expired-token"), "to@example.org")
    assert report.failed_step.name == "auth"
    assert report.failed_step.reply_code == 535
    assert "expired-token" not in str(report.as_dict())
    assert oauth_server.messages == []


def test_no_token_is_a_clear_error_and_nothing_is_sent(oauth_server):
    with pytest.raises(StepFailed) as failure:
        open_session(oauth_settings(oauth_server, token=""))
    assert failure.value.step == Step.AUTH
    assert isinstance(failure.value.error, TokenMissing)
    assert oauth_server.handler.attempts == []


def test_no_token_over_plain_text_unless_allowed(oauth_server):
    with pytest.raises(StepFailed) as failure:
        open_session(oauth_settings(oauth_server, allow_plaintext_auth=False))
    assert "unencrypted" in str(failure.value.error)
    assert oauth_server.handler.attempts == []


def test_a_server_without_xoauth2_is_refused_before_the_token_is_sent(auth_server):
    with pytest.raises(StepFailed) as failure:
        open_session(oauth_settings(auth_server))
    assert failure.value.step == Step.AUTH
    assert isinstance(failure.value.error, smtplib.SMTPException)
    assert auth_server.authenticator.attempts == []


# The access token from the provider's token endpoint (a real HTTPS server on 127.0.0.1).

CLIENT_SECRET, REFRESH_TOKEN = "client-secret-Ω", "1//refresh-token"


@pytest.fixture
def token_endpoint(token_endpoint):
    token_endpoint.answer = (200, {"access_token": TOKEN, "expires_in": 3600})
    return token_endpoint


@pytest.fixture(autouse=True)
def no_cached_tokens():
    from smtpconfig.transport import tokens

    tokens._cache.tokens.clear()
    yield


def refresh_grant(endpoint) -> TokenRequest:
    return TokenRequest(
        token_url=endpoint.url,
        client_id="client-1",
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        scope="https://mail.google.com/",
    )


def test_the_token_step_gets_a_token_then_the_login_uses_it(oauth_server, token_endpoint):
    settings = oauth_settings(oauth_server, token="", oauth_request=refresh_grant(token_endpoint))
    report = run_probe(settings, "to@example.org")
    assert report.ok, report.summary()
    assert [step.name for step in report.steps][:2] == ["token", "resolve"]
    assert "valid for 59 more minutes" in report.steps[0].detail
    [form] = token_endpoint.requests
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "client-1",
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "scope": "https://mail.google.com/",
    }
    shown = str(report.as_dict())
    assert TOKEN not in shown and CLIENT_SECRET not in shown and REFRESH_TOKEN not in shown


def test_a_token_is_kept_until_it_is_about_to_expire(oauth_server, token_endpoint):
    settings = oauth_settings(oauth_server, token="", oauth_request=refresh_grant(token_endpoint))
    assert run_probe(settings, "to@example.org", send=False).ok
    second = run_probe(settings, "to@example.org", send=False)
    assert second.ok and "kept from before" in second.steps[0].detail
    assert len(token_endpoint.requests) == 1


def test_a_revoked_refresh_token_is_diagnosed_and_nothing_reaches_the_mail_server(
    oauth_server, token_endpoint
):
    token_endpoint.answer = (400, {"error": "invalid_grant", "error_description": "revoked"})
    settings = oauth_settings(oauth_server, token="", oauth_request=refresh_grant(token_endpoint))
    report = run_probe(settings, "to@example.org")
    assert report.failed_step.name == "token"
    assert report.diagnosis.code == "oauth_invalid_grant"
    assert "Connect the account again" in report.diagnosis.fix
    assert oauth_server.handler.attempts == []
    assert REFRESH_TOKEN not in str(report.as_dict())


def test_a_token_endpoint_that_cannot_be_reached_is_a_network_failure(oauth_server):
    request = TokenRequest(token_url=f"https://127.0.0.1:{free_port()}/token", client_id="c")
    report = run_probe(oauth_settings(oauth_server, token="", oauth_request=request), "x@y.org")
    assert report.failed_step.name == "token"
    assert report.diagnosis.code == "token_endpoint_unreachable"
    assert report.diagnosis.temporary


def test_the_token_endpoint_is_reached_through_the_network_policy(
    oauth_server, token_endpoint, settings
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "BLOCKED_NETWORKS": ["127.0.0.0/8"]}
    settings_ = oauth_settings(oauth_server, token="", oauth_request=refresh_grant(token_endpoint))
    report = run_probe(settings_, "to@example.org")
    assert report.failed_step.name == "token"
    assert "not allowed" in report.failed_step.detail
    assert token_endpoint.requests == []


# A profile that signs in with OAuth2, through the site's mail (the backend).


def oauth_profile_at(oauth_server, token_endpoint, **fields):
    """A saved profile that signs in with OAuth2 at the local servers (no client secret
    or scope unless ``fields`` give them)."""
    return make_oauth_profile(
        **{
            "mail_server": oauth_server,
            "oauth_token_endpoint": token_endpoint.url,
            "oauth_client_secret": "",
            "oauth_scopes": "",
            **fields,
        }
    )


@pytest.fixture
def oauth_profile(db, oauth_server, token_endpoint):
    return oauth_profile_at(
        oauth_server,
        token_endpoint,
        oauth_client_secret=CLIENT_SECRET,
        oauth_refresh_token=REFRESH_TOKEN,
    )


def test_the_site_mail_signs_in_with_oauth2(use_backend, oauth_profile, oauth_server):
    from django.core import mail

    assert mail.send_mail("Hello", "Body", None, ["to@example.org"]) == 1
    assert oauth_server.handler.attempts == [USER]
    assert len(oauth_server.messages) == 1


def test_a_rotated_refresh_token_replaces_the_stored_one(
    use_backend, oauth_profile, token_endpoint
):
    from django.core import mail

    from smtpconfig.models import SMTPProfile

    token_endpoint.answer = (
        200,
        {"access_token": TOKEN, "expires_in": 3600, "refresh_token": "1//rotated"},
    )
    mail.send_mail("Hello", "Body", None, ["to@example.org"])
    stored = SMTPProfile.objects.get(pk=oauth_profile.pk)
    assert stored.oauth_refresh_token == "1//rotated"
    assert REFRESH_TOKEN not in stored.oauth_refresh_token_encrypted


def test_an_older_refresh_token_never_overwrites_a_newer_one(oauth_profile):
    from smtpconfig.models import SMTPProfile

    stale = SMTPProfile.objects.get(pk=oauth_profile.pk)  # read before another worker rotated
    oauth_profile._store_rotated_refresh_token(REFRESH_TOKEN, "1//newer")
    stale._store_rotated_refresh_token(REFRESH_TOKEN, "1//older")  # its old token is gone
    assert SMTPProfile.objects.get(pk=oauth_profile.pk).oauth_refresh_token == "1//newer"


def test_secrets_are_not_sent_to_a_token_endpoint_changed_behind_the_form(
    use_backend, oauth_profile, token_endpoint
):
    from django.core import mail

    from smtpconfig.exceptions import SecretUnreadable
    from smtpconfig.models import SMTPProfile

    SMTPProfile.objects.filter(pk=oauth_profile.pk).update(
        oauth_token_endpoint="https://attacker.example/token"
    )
    with pytest.raises(SecretUnreadable):
        mail.send_mail("Hello", "Body", None, ["to@example.org"])
    assert token_endpoint.requests == []


def test_a_profile_whose_secrets_cannot_be_used_fails_over_to_the_next(
    use_backend, oauth_profile, token_endpoint, make_profile, plain_server
):
    from django.core import mail

    from smtpconfig.models import DeliveryLog, SMTPProfile

    make_profile(name="Backup", port=plain_server.port, is_default=False, priority=200)
    SMTPProfile.objects.filter(pk=oauth_profile.pk).update(
        oauth_token_endpoint="https://attacker.example/token"
    )
    assert mail.send_mail("Hello", "Body", None, ["to@example.org"]) == 1
    assert len(plain_server.messages) == 1
    assert token_endpoint.requests == []
    [row] = DeliveryLog.objects.all()
    assert row.outcome == "failed_over" and row.tried[0]["profile"] == "OAuth"


# Setting it up in the admin: app-only access (client credentials), checked with a test.


def app_only_form(oauth_server, token_endpoint, **overrides):
    return form_data(
        **{
            "name": "M365 app-only",
            "port": str(oauth_server.port),
            "username": USER,
            "from_email": USER,
            "auth_method": "oauth2",
            "oauth_provider": "custom",
            "oauth_grant": "client_credentials",
            "oauth_token_endpoint": token_endpoint.url,
            "oauth_client_id": "app-1",
            "oauth_client_secret": CLIENT_SECRET,
            **overrides,
        }
    )


@pytest.mark.django_db
def test_an_app_only_profile_is_set_up_and_checked_in_the_admin(
    admin_client, oauth_server, token_endpoint
):
    from django.urls import reverse

    from smtpconfig.models import SMTPProfile

    add = reverse("admin:smtpconfig_smtpprofile_add")
    response = admin_client.post(add, app_only_form(oauth_server, token_endpoint))
    assert response.status_code == 302, response.content.decode()[-2000:]
    profile = SMTPProfile.objects.get(name="M365 app-only")
    assert profile.oauth_client_secret == CLIENT_SECRET
    assert CLIENT_SECRET not in profile.oauth_client_secret_encrypted

    change = reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])
    page = admin_client.post(
        change,
        app_only_form(
            oauth_server,
            token_endpoint,
            oauth_client_secret="",  # blank: the stored one
            _check_connection="1",
            _test_to="to@example.org",
        ),
    ).content.decode()
    assert "Connection check passed" in page
    assert "Token" in page
    assert CLIENT_SECRET not in page and TOKEN not in page
    [form] = token_endpoint.requests
    assert form["grant_type"] == "client_credentials" and form["client_secret"] == CLIENT_SECRET
    assert oauth_server.handler.attempts == [USER]


@pytest.mark.django_db
def test_moving_the_token_endpoint_asks_for_the_client_secret_again(
    admin_client, oauth_server, token_endpoint
):
    from django.urls import reverse

    from smtpconfig.models import SMTPProfile

    admin_client.post(
        reverse("admin:smtpconfig_smtpprofile_add"),
        app_only_form(oauth_server, token_endpoint),
    )
    profile = SMTPProfile.objects.get(name="M365 app-only")
    response = admin_client.post(
        reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk]),
        app_only_form(
            oauth_server,
            token_endpoint,
            oauth_token_endpoint="https://attacker.example/token",
            oauth_client_secret="",
            _check_connection="1",
            _test_to="to@example.org",
        ),
    )
    assert "Type the client secret again" in response.content.decode()
    assert token_endpoint.requests == []


# Connecting an account from a terminal (device code flow).


@pytest.fixture
def connect_profile(db, oauth_server, token_endpoint):
    return oauth_profile_at(
        oauth_server,
        token_endpoint,
        name="Device",
        is_default=False,
        oauth_device_authorization_endpoint=token_endpoint.root + "/devicecode",
        oauth_scopes="SMTP.Send offline_access",
    )


def test_smtp_oauth_connect_shows_the_code_waits_and_stores_the_refresh_token(
    connect_profile, token_endpoint, oauth_server
):
    from io import StringIO

    from django.core.management import call_command

    from smtpconfig.models import SMTPProfile

    token_endpoint.scripted = {
        "/devicecode": [
            (
                200,
                {
                    "device_code": "dc-1",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 60,
                    "interval": 0,
                },
            )
        ],
        "/token": [
            (400, {"error": "authorization_pending"}),
            (200, {"access_token": TOKEN, "expires_in": 3600, "refresh_token": "1//connected"}),
        ],
    }
    out = StringIO()
    call_command("smtp_oauth_connect", "--profile", "Device", stdout=out)
    assert "ABCD-EFGH" in out.getvalue() and "microsoft.com/devicelogin" in out.getvalue()
    assert "Connected" in out.getvalue()
    stored = SMTPProfile.objects.get(pk=connect_profile.pk)
    assert stored.oauth_refresh_token == "1//connected"
    assert stored.oauth_connected_at is not None
    polls = [r for r in token_endpoint.requests if r.get("grant_type", "").endswith("device_code")]
    assert len(polls) == 2 and polls[0]["device_code"] == "dc-1"


def test_smtp_oauth_connect_says_when_the_code_expired_or_was_refused(
    connect_profile, token_endpoint
):
    from django.core.management import CommandError, call_command

    token_endpoint.scripted = {
        "/devicecode": [
            (
                200,
                {
                    "device_code": "dc-1",
                    "user_code": "X",
                    "verification_uri": "https://x",
                    "expires_in": 60,
                    "interval": 0,
                },
            )
        ],
        "/token": [(400, {"error": "access_denied", "error_description": "refused"})],
    }
    with pytest.raises(CommandError, match="access_denied"):
        call_command("smtp_oauth_connect", "--profile", "Device", stdout=StringIO())
