"""Logging in with an OAuth2 access token (SASL XOAUTH2) on the one road to the server
(issue 12, first part): the test and the backend's transport, against a real server."""

import base64
import smtplib

import pytest

from smtpconfig.exceptions import TokenMissing
from smtpconfig.probe import run_probe
from smtpconfig.transport.session import open_session
from smtpconfig.transport.settings import ConnectionSettings, LoginMethod, Security
from smtpconfig.transport.steps import Step, StepFailed

from .smtpd import OAuth2Handler, running_smtp_server

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
