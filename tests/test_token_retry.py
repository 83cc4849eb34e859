"""A kept OAuth2 token the server refuses is refreshed once and the login tried again; a
token that cannot be had fails over like a refused login. Real servers on 127.0.0.1."""

import pytest
from django.core import mail

from smtpconfig.probe import run_probe
from smtpconfig.transport.session import open_session
from smtpconfig.transport.settings import ConnectionSettings, LoginMethod, Security
from smtpconfig.transport.tokens import TokenRequest, cached_token, fetch_token, forget_token

from .helpers import make_oauth_profile
from .smtpd import OAuth2Handler, free_port, running_smtp_server

USER, RECIPIENT = "mailer@example.com", "to@example.org"
OLD, NEW = "old-access-token-Ω1", "new-access-token-Ω2"


@pytest.fixture
def token_endpoint(token_endpoint):
    token_endpoint.answer = (200, {"access_token": NEW, "expires_in": 3600})
    return token_endpoint


def grant(endpoint) -> TokenRequest:
    request = TokenRequest(token_url=endpoint.url, client_id="client-1", refresh_token="1//rt")
    forget_token(request)  # a port used by an earlier test must not bring its token
    return request


def keep_old_token(endpoint, request) -> None:
    """Have ``OLD`` cached for ``request`` (through the endpoint: the public road), then let
    the endpoint hand out ``NEW``."""
    endpoint.answer = (200, {"access_token": OLD, "expires_in": 3600})
    fetch_token(request, 5)
    endpoint.answer = (200, {"access_token": NEW, "expires_in": 3600})
    endpoint.requests.clear()


def oauth_settings(server, request) -> ConnectionSettings:
    return ConnectionSettings(
        host="127.0.0.1",
        port=server.port,
        security=Security.NONE,
        allow_plaintext_auth=True,
        username=USER,
        from_email=USER,
        timeout=5,
        login_method=LoginMethod.OAUTH2,
        oauth_request=request,
    )


def test_a_kept_token_refused_is_refreshed_and_the_login_retried_on_the_same_connection(
    token_endpoint,
):
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    handler = OAuth2Handler({USER: NEW})  # the server no longer takes OLD (revoked early)
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.ok, report.summary()
    assert [step.name for step in report.steps] == [
        "token",
        "resolve",
        "connect",
        "ehlo",
        "auth",
        "token",
        "auth",
        "mail",
        "rcpt",
        "data",
    ]
    assert "kept from before" in report.steps[0].detail
    assert "refused the token kept from before (535" in report.steps[4].detail
    assert "was refused: new token" in report.steps[5].detail
    assert handler.attempts == [USER, USER] and len(server.messages) == 1
    assert len(token_endpoint.requests) == 1
    # One connection, two logins, neither token shown.
    assert [line for line in report.transcript if line.startswith("C: AUTH")] == [
        "C: AUTH XOAUTH2 ****",
        "C: AUTH XOAUTH2 ****",
    ]
    assert sum(line.lower().startswith("c: ehlo") for line in report.transcript) == 1
    shown = str(report.as_dict())
    assert OLD not in shown and NEW not in shown
    assert cached_token(request).access_token == NEW  # the refused one is gone


def test_a_server_that_hangs_up_after_refusing_gets_a_new_connection(token_endpoint):
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    handler = OAuth2Handler({USER: NEW}, close_on_failure=True)
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.ok, report.summary()
    names = [step.name for step in report.steps]
    assert names[names.index("token", 1) :][:5] == ["token", "resolve", "connect", "ehlo", "auth"]
    assert handler.attempts == [USER, USER] and len(server.messages) == 1
    # The transcript shows both connections, one after the other.
    assert "-- new connection --" in report.transcript
    first, second = "\n".join(report.transcript).split("-- new connection --")
    assert "C: AUTH XOAUTH2 ****" in first and "C: AUTH XOAUTH2 ****" in second
    assert "queued" in second and "queued" not in first
    shown = str(report.as_dict())
    assert OLD not in shown and NEW not in shown


def test_a_fresh_token_refused_again_is_the_final_failure_diagnosed(token_endpoint):
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    handler = OAuth2Handler({USER: "neither"})
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.failed_step.name == "auth" and report.failed_step.reply_code == 535
    assert report.diagnosis.code == "gmail_token_refused"  # the handler speaks Google's words
    assert "connect the account again" in report.diagnosis.fix
    assert handler.attempts == [USER, USER]  # once more, not again and again
    assert len(token_endpoint.requests) == 1
    shown = str(report.as_dict())
    assert OLD not in shown and NEW not in shown


def test_a_token_fetched_for_this_login_is_not_retried(token_endpoint):
    request = grant(token_endpoint)
    handler = OAuth2Handler({USER: "something-else"})
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.failed_step.name == "auth"
    assert handler.attempts == [USER]
    assert len(token_endpoint.requests) == 1


def test_a_token_given_outright_is_not_retried(token_endpoint):
    request = grant(token_endpoint)
    handler = OAuth2Handler({USER: NEW})
    with running_smtp_server(handler=handler) as server:
        settings = oauth_settings(server, request).replace(oauth_token=OLD)
        report = run_probe(settings, RECIPIENT)
    assert report.failed_step.name == "auth"
    assert handler.attempts == [USER] and token_endpoint.requests == []


def test_smtp_auth_turned_off_is_not_retried_with_a_new_token(token_endpoint):
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    reply = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled"
    handler = OAuth2Handler({USER: NEW}, failure_reply=reply)
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.diagnosis.code == "microsoft365_auth"
    assert handler.attempts == [USER] and token_endpoint.requests == []


def test_a_refresh_that_fails_after_a_refusal_is_a_token_failure(token_endpoint):
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    token_endpoint.answer = (400, {"error": "invalid_grant", "error_description": "revoked"})
    handler = OAuth2Handler({USER: NEW})
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, request), RECIPIENT)
    assert report.failed_step.name == "token"
    assert report.diagnosis.code == "oauth_invalid_grant"
    assert handler.attempts == [USER]


def test_the_transport_alone_retries_too(token_endpoint):
    """The backend's road (a recorder that keeps nothing) retries the same way."""
    request = grant(token_endpoint)
    keep_old_token(token_endpoint, request)
    handler = OAuth2Handler({USER: NEW})
    with running_smtp_server(handler=handler) as server:
        client = open_session(oauth_settings(server, request))
        try:
            assert client.auth_mechanism == "XOAUTH2"
        finally:
            client.quit()
    assert handler.attempts == [USER, USER]


# Through the site's mail: the retry, and failover when no token can be had.


def connected_profile(server, token_url):
    """A saved OAuth2 profile at ``server`` with an account connected (no scope named)."""
    profile = make_oauth_profile(
        mail_server=server,
        oauth_token_endpoint=token_url,
        oauth_scopes="",
        oauth_refresh_token="1//connected",
    )
    forget_token(profile.token_request())
    return profile


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
def test_the_site_mail_retries_a_refused_kept_token(token_endpoint):
    handler = OAuth2Handler({USER: NEW})
    with running_smtp_server(handler=handler) as server:
        profile = connected_profile(server, token_endpoint.url)
        keep_old_token(token_endpoint, profile.token_request())
        assert mail.send_mail("Hello", "Body", None, [RECIPIENT]) == 1
    assert handler.attempts == [USER, USER] and len(server.messages) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
@pytest.mark.parametrize("failure", ["invalid_grant", "unreachable"])
def test_a_token_that_cannot_be_had_fails_over_to_the_next_profile(
    token_endpoint, make_profile, plain_server, failure
):
    from smtpconfig.models import DeliveryLog, DeliveryOutcome

    if failure == "invalid_grant":
        token_endpoint.answer = (400, {"error": "invalid_grant", "error_description": "revoked"})
        token_url, words = token_endpoint.url, "no longer accepts the connected account's"
    else:
        token_url, words = f"https://127.0.0.1:{free_port()}/token", "could not be reached"
    handler = OAuth2Handler({USER: NEW})
    with running_smtp_server(handler=handler) as server:
        connected_profile(server, token_url)
        make_profile(name="Backup", port=plain_server.port, is_default=False, priority=200)
        assert mail.send_mail("Hello", "Body", None, [RECIPIENT]) == 1
    assert handler.attempts == []  # the mail server never saw a login
    assert len(plain_server.messages) == 1
    row = DeliveryLog.objects.get()
    assert row.outcome == DeliveryOutcome.FAILED_OVER and row.profile_name == "Backup"
    [tried] = row.tried
    assert (tried["profile"], tried["step"]) == ("OAuth", "token")
    assert words in tried["error"]
    assert "1//connected" not in str(row.tried) and "client-secret" not in str(row.tried)


@pytest.mark.django_db
@pytest.mark.usefixtures("use_backend")
def test_a_token_that_cannot_be_had_and_no_other_profile_fails_with_the_reason(token_endpoint):
    from smtpconfig.exceptions import TokenRefused
    from smtpconfig.models import DeliveryLog, DeliveryOutcome

    token_endpoint.answer = (400, {"error": "invalid_grant", "error_description": "revoked"})
    with running_smtp_server(handler=OAuth2Handler({USER: NEW})) as server:
        connected_profile(server, token_endpoint.url)
        with pytest.raises(TokenRefused) as raised:
            mail.send_mail("Hello", "Body", None, [RECIPIENT])
    assert raised.value.error == "invalid_grant"
    assert any("no longer accepts" in note for note in raised.value.__notes__)
    row = DeliveryLog.objects.get()
    assert row.outcome == DeliveryOutcome.FAILED
    assert row.tried[0]["step"] == "token" and "no longer accepts" in row.reply
