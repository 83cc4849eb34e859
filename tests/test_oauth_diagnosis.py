"""Microsoft's and Google's login and sender refusals, explained for the sign-in method in
use (password or OAuth2), in the same words in the test, the admin and ``smtp_test``."""

import html
import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from smtpconfig.probe import run_probe
from smtpconfig.transport.settings import ConnectionSettings, LoginMethod, Security
from smtpconfig.transport.tokens import TokenRequest, forget_token

from .helpers import PASSWORD, USER, make_oauth_profile, profile_form
from .smtpd import (
    PLAIN_REPLIES,
    OAuth2Handler,
    RecordingHandler,
    running_smtp_server,
    scripted_server,
)

TOKEN, RECIPIENT = "eyJ0eXAi-test-access-token", "to@example.org"

MS_SMTP_AUTH_OFF = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
)
MS_UNSUCCESSFUL = "535 5.7.3 Authentication unsuccessful [SN4PR0601CA0005.outlook.com]"
GOOGLE_APP_PASSWORD = (
    "534 5.7.9 Application-specific password required. Learn more at "
    "https://support.google.com/mail/?p=InvalidSecondFactor a1-20020a gsmtp"
)
GOOGLE_NOT_ACCEPTED = (
    "535 5.7.8 Username and Password not accepted. Learn more at "
    "https://support.google.com/mail/?p=BadCredentials a1-20020a gsmtp"
)


def password_settings(server, **overrides) -> ConnectionSettings:
    values = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": Security.NONE,
        "allow_plaintext_auth": True,
        "username": USER,
        "password": "not-the-password",
        "from_email": USER,
        "timeout": 5,
    }
    return ConnectionSettings(**(values | overrides))


def oauth_settings(server, **overrides) -> ConnectionSettings:
    """A login with a token given outright (so a refusal is final: nothing to refresh)."""
    return password_settings(
        server, password="", login_method=LoginMethod.OAUTH2, oauth_token="refused-token"
    ).replace(**overrides)


def refused_by(reply, method):
    """The report of a test whose login ``reply`` refuses, with ``method`` (a real server)."""
    if method == LoginMethod.OAUTH2:
        handler = OAuth2Handler({USER: TOKEN}, failure_reply=reply)
        with running_smtp_server(handler=handler) as server:
            return run_probe(oauth_settings(server), RECIPIENT)
    with running_smtp_server(users={USER: PASSWORD}, auth_failure_reply=reply) as server:
        return run_probe(password_settings(server), RECIPIENT)


def safe(text: str) -> bool:
    """No advice to weaken the account: every mention of 2-Step Verification being off is a
    "do not", and "less secure apps" is never offered."""
    lowered = text.lower()
    offs = [m.start() for m in re.finditer(r"turn (off )?2-step verification( off)?", lowered)]
    return "less secure" not in lowered and all(
        lowered[max(0, at - 7) : at] == "do not " for at in offs
    )


CASES = [
    pytest.param(
        MS_SMTP_AUTH_OFF,
        LoginMethod.PASSWORD,
        "microsoft365_auth",
        "auth_method",
        [
            "SMTP AUTH is disabled for the tenant or the mailbox, or security defaults are on",
            "end of December 2026",
            "switch the sign-in to OAuth2",
            "Authenticated SMTP",
        ],
        id="microsoft-5.7.139-password",
    ),
    pytest.param(
        MS_SMTP_AUTH_OFF,
        LoginMethod.OAUTH2,
        "microsoft365_auth",
        "",
        [
            "SMTP AUTH is disabled for the tenant or the mailbox, or security defaults are on",
            "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false",
            "security defaults do not block it",
        ],
        id="microsoft-5.7.139-oauth2",
    ),
    pytest.param(
        MS_UNSUCCESSFUL,
        LoginMethod.OAUTH2,
        "microsoft365_token_refused",
        "username",
        [
            "did not accept the access token",
            "lacks the SMTP.Send permission or admin consent",
            "is not the mailbox of the account that consented",
            "connect the account again",
        ],
        id="microsoft-5.7.3-oauth2",
    ),
    pytest.param(
        MS_UNSUCCESSFUL,
        LoginMethod.PASSWORD,
        "microsoft365_auth",
        "password",
        ["the password is wrong, or password sign-in is blocked", "Type the password again"],
        id="microsoft-5.7.3-password",
    ),
    pytest.param(
        GOOGLE_APP_PASSWORD,
        LoginMethod.PASSWORD,
        "gmail_auth",
        "password",
        [
            "requires an app password",
            "https://myaccount.google.com/apppasswords",
            "it needs 2-Step Verification",
            "or switch the sign-in to OAuth2",
        ],
        id="google-5.7.9-password",
    ),
    pytest.param(
        GOOGLE_NOT_ACCEPTED,
        LoginMethod.PASSWORD,
        "gmail_auth",
        "password",
        [
            "the app password is wrong, or it was revoked when the account's password was changed",
            "Create a new app password",
        ],
        id="google-5.7.8-password",
    ),
    pytest.param(
        GOOGLE_NOT_ACCEPTED,
        LoginMethod.OAUTH2,
        "gmail_token_refused",
        "oauth_account",
        [
            "did not accept the access token",
            "the consent expired or was revoked, or the token's scope is not "
            "https://mail.google.com/",
            "connect the account again",
        ],
        id="google-5.7.8-oauth2",
    ),
    pytest.param(
        "535 5.7.8 Authentication credentials invalid",
        LoginMethod.OAUTH2,
        "oauth_token_rejected",
        "username",
        ["refused the access token for mailer@example.com", "connect the account again"],
        id="other-server-oauth2",
    ),
]


@pytest.mark.parametrize(("reply", "method", "code", "field", "words"), CASES)
def test_a_provider_refusal_is_explained_for_the_sign_in_method(reply, method, code, field, words):
    report = refused_by(reply, method)
    assert (report.failed_step.name, report.diagnosis.code) == ("auth", code)
    assert report.diagnosis.field == field
    said = f"{report.diagnosis.problem} {report.diagnosis.fix}"
    for phrase in words:
        assert phrase in said
    assert reply.split(" ", 2)[1] in report.diagnosis.problem  # the reply's own code is shown
    assert safe(said)
    assert "refused-token" not in str(report.as_dict())


def test_the_password_fix_and_the_token_fix_differ_for_the_same_reply():
    password = refused_by(MS_UNSUCCESSFUL, LoginMethod.PASSWORD).diagnosis
    oauth = refused_by(MS_UNSUCCESSFUL, LoginMethod.OAUTH2).diagnosis
    assert "password" in password.fix and "SMTP.Send" not in password.fix
    assert "SMTP.Send" in oauth.fix and "password" not in oauth.fix


def test_googles_multi_line_refusal_is_recognised():
    replies = PLAIN_REPLIES | {
        b"EHLO": b"250-smtp.gmail.com at your service\r\n250 AUTH LOGIN PLAIN XOAUTH2\r\n",
        b"AUTH": b"535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
        b"535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a gsmtp\r\n",
    }
    with scripted_server(b"220 smtp.gmail.com ESMTP gsmtp\r\n", replies) as server:
        report = run_probe(password_settings(server), RECIPIENT)
    assert report.diagnosis.code == "gmail_auth"
    assert "revoked when the account's password was changed" in report.diagnosis.problem


def test_an_app_only_token_refused_by_microsoft_names_the_exchange_side():
    handler = OAuth2Handler({USER: TOKEN}, failure_reply=MS_UNSUCCESSFUL)
    app_only = TokenRequest(
        token_url="https://login.test/token", client_id="app", grant_type=("client_credentials")
    )
    with running_smtp_server(handler=handler) as server:
        report = run_probe(oauth_settings(server, oauth_request=app_only), RECIPIENT)
    assert report.diagnosis.code == "microsoft365_token_refused"
    assert "New-ServicePrincipal" in report.diagnosis.fix
    assert "SMTP.SendAsApp" in report.diagnosis.fix


def test_no_connected_account_says_to_connect_it():
    with running_smtp_server(handler=OAuth2Handler({USER: TOKEN})) as server:
        report = run_probe(oauth_settings(server, oauth_token=""), RECIPIENT)
    assert (report.failed_step.name, report.diagnosis.code) == ("auth", "oauth_not_connected")
    assert report.diagnosis.field == "oauth_account"


def test_a_server_without_xoauth2_is_not_blamed_on_the_password(auth_server):
    report = run_probe(oauth_settings(auth_server), RECIPIENT)
    assert report.diagnosis.code == "xoauth2_not_offered"
    assert report.diagnosis.field == "auth_method"
    assert "app password" not in report.diagnosis.fix


# Send As: the From address is not the mailbox's, at MAIL FROM or after the message.

SEND_AS_WORDS = (
    "not allowed to send as this sender",
    "Set the From address to the signed-in mailbox",
    "“Send As”",
)


@pytest.mark.parametrize("method", [LoginMethod.PASSWORD, LoginMethod.OAUTH2])
def test_send_as_denied_at_mail_from_points_at_the_from_address(method):
    refusal = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
    if method == LoginMethod.OAUTH2:
        handler = OAuth2Handler({USER: TOKEN})
        handler.mail_reply = refusal
        context = running_smtp_server(handler=handler)
    else:
        context = running_smtp_server(
            handler=RecordingHandler(mail_reply=refusal), users={USER: PASSWORD}
        )
    with context as server:
        if method == LoginMethod.OAUTH2:
            settings = oauth_settings(server, oauth_token=TOKEN, from_email="boss@example.com")
        else:
            settings = password_settings(server, password=PASSWORD, from_email="boss@example.com")
        report = run_probe(settings, RECIPIENT)
    assert (report.failed_step.name, report.diagnosis.code) == ("mail", "send_as_denied")
    assert report.diagnosis.field == "from_email"
    assert report.diagnosis.suggestion == USER
    said = f"{report.diagnosis.problem} {report.diagnosis.fix}"
    assert all(words in said for words in SEND_AS_WORDS)
    assert "boss@example.com" in report.diagnosis.problem


def test_send_as_denied_after_the_message_points_at_the_from_address():
    refusal = (
        b"554 5.2.252 SendAsDenied; mailer@example.com not allowed to send as "
        b"boss@example.com; STOREDRV.Submission.Exception:SendAsDeniedException\r\n"
    )
    with scripted_server(b"220 outlook.test ESMTP\r\n", PLAIN_REPLIES, after_data=refusal) as srv:
        settings = password_settings(srv, username="", from_email="boss@example.com")
        report = run_probe(settings, RECIPIENT)
    assert (report.failed_step.name, report.diagnosis.code) == ("data", "send_as_denied")
    assert report.diagnosis.field == "from_email"


# A token without the scope to send mail: said at the Token step, before any login.


def microsoft_grant(endpoint, scope="https://outlook.office.com/SMTP.Send offline_access"):
    request = TokenRequest(
        token_url=endpoint.url, client_id="client-1", refresh_token="1//rt", scope=scope
    )
    forget_token(request)  # a port used by an earlier test must not bring its token
    return request


def test_a_token_without_the_smtp_scope_fails_at_the_token_step(token_endpoint):
    token_endpoint.answer = (
        200,
        {"access_token": TOKEN, "expires_in": 3600, "scope": "openid profile User.Read"},
    )
    handler = OAuth2Handler({USER: TOKEN})
    with running_smtp_server(handler=handler) as server:
        settings = oauth_settings(
            server, oauth_token="", oauth_request=microsoft_grant(token_endpoint)
        )
        report = run_probe(settings, RECIPIENT)
        again = run_probe(settings, RECIPIENT)
    assert (report.failed_step.name, report.diagnosis.code) == ("token", "oauth_scope_missing")
    assert "the app lacks the SMTP permission" in report.diagnosis.problem
    assert "https://outlook.office.com/SMTP.Send" in report.diagnosis.problem
    assert "SMTP.Send, delegated, with admin consent" in report.diagnosis.fix
    assert handler.attempts == []  # the mail server never saw it
    # Not kept: the next test asks again (consent may have been granted since).
    assert again.diagnosis.code == "oauth_scope_missing" and len(token_endpoint.requests) == 2
    assert TOKEN not in str(report.as_dict())


@pytest.mark.parametrize(
    "granted",
    ["https://outlook.office.com/SMTP.Send", "SMTP.Send offline_access", ""],
    ids=["full-name", "short-name", "not-said"],
)
def test_a_token_with_the_smtp_scope_or_without_a_scope_is_used(token_endpoint, granted):
    token_endpoint.answer = (200, {"access_token": TOKEN, "expires_in": 3600, "scope": granted})
    handler = OAuth2Handler({USER: TOKEN})
    with running_smtp_server(handler=handler) as server:
        settings = oauth_settings(
            server, oauth_token="", oauth_request=microsoft_grant(token_endpoint)
        )
        report = run_probe(settings, RECIPIENT, send=False)
    assert report.ok, report.summary()


# The same words in the admin and in smtp_test (text and JSON).


def smtp_test(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("smtp_test", "--to", RECIPIENT, *args, stdout=out, stderr=StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_the_admin_and_smtp_test_say_the_same_for_microsofts_smtp_auth_off(
    admin_client, make_profile
):
    # The tenant refuses password logins: even the right password is refused.
    with running_smtp_server(users={}, auth_failure_reply=MS_SMTP_AUTH_OFF) as srv:
        profile = make_profile(port=srv.port, username=USER, password=PASSWORD, from_email=USER)
        page = admin_client.post(
            reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk]),
            profile_form(profile, _check_connection="1", _test_to=RECIPIENT),
        ).content.decode()
        code, text = smtp_test()
        json_code, output = smtp_test("--json")
    report = json.loads(output)
    diagnosis = report["diagnosis"]
    assert (code, json_code) == (1, 1)
    assert report["failed_step"] == "auth" and diagnosis["code"] == "microsoft365_auth"
    page = html.unescape(page)
    for words in (diagnosis["problem"], diagnosis["fix"]):
        assert words in page
        assert words in text
    assert "end of December 2026" in diagnosis["fix"]
    assert "Setting: sign-in" in text  # the field, by its label


@pytest.mark.django_db
def test_smtp_test_explains_a_refused_token_after_the_token_step(token_endpoint):
    token_endpoint.answer = (200, {"access_token": "a-token-the-server-refuses", "expires_in": 600})
    handler = OAuth2Handler({USER: TOKEN}, failure_reply=MS_UNSUCCESSFUL)
    with running_smtp_server(handler=handler) as server:
        make_oauth_profile(
            mail_server=server,
            name="M365",
            oauth_token_endpoint=token_endpoint.url,
            oauth_client_secret="",
            oauth_scopes="",
            oauth_refresh_token="1//connected",
        )
        json_code, output = smtp_test("--json")
        code, text = smtp_test()
    report = json.loads(output)
    assert (code, json_code) == (1, 1)
    assert [step["name"] for step in report["steps"]][0] == "token"
    assert report["failed_step"] == "auth"
    assert report["diagnosis"]["code"] == "microsoft365_token_refused"
    assert "Authentication" in text and "Token" in text
    assert report["diagnosis"]["problem"] in text and report["diagnosis"]["fix"] in text
    assert "a-token-the-server-refuses" not in output + text
    assert "1//connected" not in output + text
