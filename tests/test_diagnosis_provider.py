"""A refused login is explained by the provider's own rules, against a real server refusing it.

The servers are aiosmtpd on 127.0.0.1; which provider's rules apply comes from the
profile's stored provider (a preset key), its host name, or a user name only one
provider uses (SendGrid's ``apikey``).
"""

from __future__ import annotations

import pytest

from smtpconfig.diagnosis.provider import provider_of
from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, run_probe
from smtpconfig.providers.presets import get_preset

from .smtpd import running_smtp_server

RECIPIENT = "someone@example.org"
# What Postfix (and SendGrid) answer to a wrong login.
POSTFIX_535 = "535 5.7.8 Error: authentication failed: authentication failure"
EMAIL_ADVICE = "usually the full email address"


@pytest.fixture(scope="module")
def refusing_server():
    """A server that knows no user at all: every login is refused with Postfix's 535."""
    with running_smtp_server(users={}, auth_failure_reply=POSTFIX_535) as server:
        yield server


def refused(server, **overrides):
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": Security.NONE,
        "allow_plaintext_auth": True,
        "from_email": "noreply@example.com",
        "username": "apikey",
        "password": "SG.not-a-real-key",
        "timeout": 5,
    }
    report = run_probe(ProbeSettings(**{**values, **overrides}), RECIPIENT)
    assert (report.failed_step.name, report.failed_step.reply_code) == ("auth", 535)
    return report.diagnosis


def test_sendgrid_with_apikey_points_at_the_api_key_not_the_email_address(refusing_server):
    diagnosis = refused(refusing_server, provider="sendgrid")
    text = f"{diagnosis.problem} {diagnosis.fix}"
    assert EMAIL_ADVICE not in text and "full email address" not in text
    assert diagnosis.code == "sendgrid_auth"
    assert diagnosis.field == "password"
    assert "“apikey” is right" in diagnosis.problem
    assert "Mail Send" in diagnosis.fix


def test_sendgrid_with_another_user_name_suggests_apikey(refusing_server):
    diagnosis = refused(refusing_server, provider="sendgrid", username="me@example.com")
    assert diagnosis.field == "username"
    assert diagnosis.suggestion == "apikey"
    assert "literal word “apikey”, not “me@example.com”" in diagnosis.problem


def test_the_literal_user_name_alone_names_sendgrid(refusing_server):
    """No provider stored and a relay's host name: ``apikey`` is SendGrid's word."""
    diagnosis = refused(refusing_server)
    assert diagnosis.code == "sendgrid_auth"
    assert EMAIL_ADVICE not in diagnosis.fix


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("mailgun", "SMTP credentials of your sending domain"),
        ("postmark", "Server API token as both the user name and the password"),
        ("brevo", "@smtp-brevo.com"),
        ("mailjet", "API key as the user name"),
    ],
)
def test_providers_with_their_own_logins_give_their_rule(refusing_server, provider, expected):
    diagnosis = refused(refusing_server, provider=provider, username="login-123")
    assert diagnosis.code == f"{provider}_auth"
    assert expected in diagnosis.fix
    assert "full email address" not in diagnosis.fix


def test_amazon_ses_keeps_its_known_reply(refusing_server):
    diagnosis = refused(refusing_server, provider="ses", username="AKIAEXAMPLE")
    assert diagnosis.code == "ses_auth"
    assert "credentials made for this region" in diagnosis.fix


def test_a_provider_whose_user_name_is_the_address_says_so_for_it(refusing_server):
    diagnosis = refused(refusing_server, provider="fastmail", username="me@fastmail.com")
    assert diagnosis.code == "fastmail_auth"
    assert "for Fastmail, the full email address" in diagnosis.fix
    assert "app password" in diagnosis.fix


def test_without_a_provider_the_general_advice_stays(refusing_server):
    diagnosis = refused(refusing_server, username="me@example.com")
    assert diagnosis.code == "auth_failed"
    assert EMAIL_ADVICE in diagnosis.fix


def test_the_host_names_the_provider_before_the_stored_one():
    settings = ProbeSettings(host="smtp.sendgrid.net", port=587, provider="gmail")
    assert provider_of(settings) is get_preset("sendgrid")
    other = ProbeSettings(host="relay.example.net", port=587, provider="other", username="x")
    assert provider_of(other) is None
