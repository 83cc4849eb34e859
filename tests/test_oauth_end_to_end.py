"""OAuth2 sign-in end to end, through the app's public paths only, against real servers:
an OAuth2 authorization server (tests/oauthd.py: consent page, PKCE, rotation, device
code, client credentials, revocation, a clock the test moves) and a mail server that
takes AUTH XOAUTH2 only with a live token that authorization server issued.

The admin is driven with Django's test client, the terminal with ``call_command``, the
site's mail with ``send_mail`` through the app's backend; the person at the provider is
played by tests/oauthd.py's ``consent`` and ``enter_user_code``, which read the server's
own pages and submit their forms.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import smtplib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from smtpconfig.models import DeliveryLog, SMTPProfile

from .helpers import change_url, form_data, make_oauth_profile
from .oauthd import (
    MICROSOFT_BAD_TOKEN,
    OAuthError,
    XOAuth2Handler,
    consent,
    enter_user_code,
    process_time_follows,
)
from .oauthd import running_oauth_server as running_oauthd
from .smtpd import running_smtp_server

USER, OTHER_USER = "mailer@example.com", "other@example.com"
CLIENT_ID, CLIENT_SECRET = "smtp-settings-app", "client-secret-Ω/+="
CALLBACK = reverse("admin:smtpconfig_smtpprofile_oauth_callback")
REDIRECT_URI = "http://testserver" + CALLBACK


@pytest.fixture
def oauthd(settings):
    """The authorization server, with the app registered (confidential, this callback)."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}
    with running_oauthd(users=[USER, OTHER_USER]) as server:
        server.add_client(CLIENT_ID, secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI])
        yield server


@pytest.fixture
def mail_server(oauthd):
    """A mail server that takes XOAUTH2 with oauthd's live tokens (Microsoft's replies)."""
    with running_smtp_server(handler=XOAuth2Handler(oauthd)) as server:
        yield server


def make_profile(oauthd, mail_server, **fields) -> SMTPProfile:
    """A saved OAuth2 profile with the custom provider at oauthd (no account connected)."""
    return make_oauth_profile(
        **{
            "mail_server": mail_server,
            "oauth_grant": "refresh_token",
            "oauth_authorization_endpoint": oauthd.authorize_url,
            "oauth_token_endpoint": oauthd.token_url,
            "oauth_device_authorization_endpoint": oauthd.device_url,
            "oauth_client_id": CLIENT_ID,
            "oauth_client_secret": CLIENT_SECRET,
            **fields,
        }
    )


@pytest.fixture
def profile(db, oauthd, mail_server):
    return make_profile(oauthd, mail_server)


def stored(profile) -> SMTPProfile:
    return SMTPProfile.objects.get(pk=profile.pk)


def start_connecting(client, profile) -> str:
    """Press "Connect account": where the admin sends the browser (oauthd's consent page)."""
    url = reverse("admin:smtpconfig_smtpprofile_oauth_connect", args=[profile.pk])
    response = client.get(url)
    assert response.status_code == 302
    return response["Location"]


def come_back(client, redirect: str):
    """The browser following the provider's redirect back to the admin's callback."""
    parts = urllib.parse.urlsplit(redirect)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    return client.get(f"{parts.path}?{parts.query}", follow=True)


def connect_in_admin(client, profile):
    return come_back(client, consent(start_connecting(client, profile)))


def send(subject="Hello") -> int:
    return mail.send_mail(subject, "Body", None, ["to@example.org"])


def shown_codes(out: StringIO, timeout: float = 10.0) -> tuple[str, str]:
    """The verification address and user code the command printed (a person reads them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"Open (\S+) and enter the code (\S+)", out.getvalue())
        if found:
            return found[1], found[2]
        time.sleep(0.02)
    raise AssertionError(f"no code shown: {out.getvalue()!r}")


def meanwhile(action) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def connect_with_device_code(oauthd, name="OAuth", decision="approve") -> str:
    """``smtp_oauth_connect --flow device`` while a person enters the code it shows and
    approves (or denies) on oauthd's verification page; the command's output."""
    out = StringIO()
    answers = []

    def person():
        url, user_code = shown_codes(out)
        assert url == oauthd.verification_url
        answers.append(enter_user_code(oauthd, user_code, decision))

    thread = meanwhile(person)
    try:
        call_command("smtp_oauth_connect", "--profile", name, "--flow", "device", stdout=out)
    finally:
        thread.join(10)
    assert answers, "the person never got to enter the code"
    return out.getvalue()


# Connecting an account: the three flows.


def test_connect_account_in_the_admin_then_send(
    admin_client, profile, oauthd, mail_server, use_backend
):
    location = start_connecting(admin_client, profile)
    assert location.startswith(oauthd.authorize_url + "?")
    redirect = consent(location)
    assert "code=" in redirect and "state=" in redirect
    page = come_back(admin_client, redirect).content.decode()

    assert "The account is connected" in page
    assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]
    assert stored(profile).oauth_connected_at is not None
    assert [r["grant_type"] for r in oauthd.token_requests] == ["authorization_code"]
    assert oauthd.hits["/authorize"] == 2  # the consent page, then its form

    assert send() == 1
    assert mail_server.handler.attempts == [(USER, "ok")]
    [message] = mail_server.messages
    assert message.auth_login == USER


def test_the_consent_page_verifies_pkce_and_the_redirect_uri(admin_client, profile, oauthd):
    """The app's verifier matches its challenge: a wrong one would be refused (below)."""
    location = start_connecting(admin_client, profile)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == REDIRECT_URI
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(consent(location)).query))["code"]
    # Someone holding the code but not the verifier gets nothing.
    wrong = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": "not-the-verifier-" + "x" * 40,
    }
    with pytest.raises(OAuthError) as refused:
        oauthd.token(wrong, None)
    assert refused.value.error == "invalid_grant" and "PKCE" in refused.value.description


def test_consent_denied_at_the_provider_changes_nothing(admin_client, profile, oauthd):
    redirect = consent(start_connecting(admin_client, profile), decision="deny")
    page = come_back(admin_client, redirect).content.decode()
    assert "access_denied" in page
    assert stored(profile).oauth_refresh_token == ""
    assert oauthd.hits["/token"] == 0


def test_a_replayed_state_is_refused_and_changes_nothing(admin_client, profile, oauthd):
    redirect = consent(start_connecting(admin_client, profile))
    come_back(admin_client, redirect)
    connected = stored(profile).oauth_refresh_token
    replay = come_back(admin_client, redirect).content.decode()
    assert "does not belong to a connection started here" in replay
    assert stored(profile).oauth_refresh_token == connected
    assert oauthd.hits["/token"] == 1  # the code was never offered again


def test_a_state_from_another_session_is_refused_and_changes_nothing(
    admin_client, admin_user, profile, oauthd
):
    redirect = consent(start_connecting(admin_client, profile))
    other_browser = Client()
    other_browser.force_login(admin_user)
    page = come_back(other_browser, redirect).content.decode()
    assert "does not belong to a connection started here" in page
    assert stored(profile).oauth_refresh_token == "" and oauthd.hits["/token"] == 0
    # The browser that started it can still finish it.
    assert "The account is connected" in come_back(admin_client, redirect).content.decode()


def test_connect_with_a_device_code_from_the_terminal_then_send(
    profile, oauthd, mail_server, use_backend
):
    output = connect_with_device_code(oauthd)
    assert "Connected" in output
    device = oauthd.device_authorizations[0]
    assert device.user_code in output and device.device_code not in output
    assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]
    polls = [r for r in oauthd.token_requests if r["grant_type"].endswith("device_code")]
    assert polls and all(r["client_auth"] in ("post", "basic") for r in polls)
    assert send() == 1 and mail_server.handler.attempts == [(USER, "ok")]


def test_a_provider_that_authenticates_confidential_clients_at_the_device_endpoint(
    profile, oauthd, mail_server, use_backend
):
    oauthd.device_requires_client_auth = True
    connect_with_device_code(oauthd)
    assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]
    assert send() == 1


def test_a_device_code_the_person_denies_is_refused(profile, oauthd):
    with pytest.raises(CommandError, match="access_denied"):
        connect_with_device_code(oauthd, decision="deny")
    assert stored(profile).oauth_refresh_token == ""


def test_a_device_code_that_expires_before_the_person_signs_in(profile, oauthd):
    out = StringIO()

    def person_walks_away():
        shown_codes(out)
        oauthd.clock.advance(oauthd.device_code_lifetime + 1)

    thread = meanwhile(person_walks_away)
    with pytest.raises(CommandError, match="expired_token"):
        call_command("smtp_oauth_connect", "--profile", "OAuth", "--flow", "device", stdout=out)
    thread.join(5)
    assert stored(profile).oauth_refresh_token == ""


def test_app_only_access_with_client_credentials(db, oauthd, mail_server, use_backend):
    make_profile(oauthd, mail_server, oauth_grant="client_credentials", oauth_scopes=".default")
    out = StringIO()
    call_command(
        "smtp_oauth_connect", "--profile", "OAuth", "--flow", "client-credentials", stdout=out
    )
    assert "Connected" in out.getvalue()
    assert send() == 1
    # The token the command got is kept and used for the mail.
    assert [r["grant_type"] for r in oauthd.token_requests] == ["client_credentials"]
    assert mail_server.handler.attempts == [(USER, "ok")]
    assert oauthd.live_refresh_tokens() == []  # app-only access has none


def test_app_only_access_with_a_wrong_secret_is_invalid_client(db, oauthd, mail_server):
    make_profile(oauthd, mail_server, oauth_grant="client_credentials", oauth_client_secret="wrong")
    with pytest.raises(CommandError, match="invalid_client") as failure:
        call_command(
            "smtp_oauth_connect",
            "--profile",
            "OAuth",
            "--flow",
            "client-credentials",
            stdout=StringIO(),
        )
    assert failure.value.returncode == 1


# Testing a connected profile: the admin's "Send test email" and smtp_test.


def send_test_form(profile, **overrides) -> dict:
    """The profile's change form as posted with "Send test email" (the secret left blank:
    the stored one is kept)."""
    return form_data(
        **{
            "name": profile.name,
            "host": profile.host,
            "port": str(profile.port),
            "username": profile.username,
            "from_email": profile.from_email,
            "auth_method": "oauth2",
            "oauth_provider": "custom",
            "oauth_grant": "refresh_token",
            "oauth_authorization_endpoint": profile.oauth_authorization_endpoint,
            "oauth_token_endpoint": profile.oauth_token_endpoint,
            "oauth_device_authorization_endpoint": profile.oauth_device_authorization_endpoint,
            "oauth_client_id": profile.oauth_client_id,
            "oauth_scopes": profile.oauth_scopes,
            "oauth_client_secret": "",
            "_send_test": "1",
            "_test_to": "to@example.org",
            **overrides,
        }
    )


def test_send_test_email_in_the_admin_shows_a_token_step_before_authentication(
    admin_client, profile, mail_server
):
    connect_in_admin(admin_client, profile)
    page = admin_client.post(change_url(profile), send_test_form(profile)).content.decode()
    assert page.index("Token") < page.index("Authentication")
    assert len(mail_server.messages) == 1


def smtp_test(name="OAuth") -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("smtp_test", "--profile", name, "--to", "to@example.org", "--json", stdout=out)
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    return status, json.loads(out.getvalue())


def test_smtp_test_reports_the_token_step_then_the_login(profile, oauthd, mail_server):
    connect_with_device_code(oauthd)
    status, report = smtp_test()
    assert status == 0 and report["ok"], report
    names = [step["name"] for step in report["steps"]]
    assert names[0] == "token" and names.index("token") < names.index("auth")
    assert report["auth_mechanism"] == "XOAUTH2"


# The life of a connection: expiry, rotation, revocation.


def test_an_access_token_is_kept_then_refreshed_when_it_expires_without_reconnecting(
    admin_client, profile, oauthd, mail_server, use_backend, settings
):
    """With a provider that keeps the refresh token (Google), the access token is used
    until it expires; an hour later (both clocks moved) the refresh token gets a new one."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL": False}  # a login per send
    oauthd.rotate_refresh_tokens = False
    connect_in_admin(admin_client, profile)
    refresh_token = stored(profile).oauth_refresh_token
    assert send("first") == 1
    assert send("second") == 1  # the same access token, kept
    assert [r["grant_type"] for r in oauthd.token_requests] == [
        "authorization_code",
        "refresh_token",
    ]
    with process_time_follows(oauthd.clock):
        oauthd.clock.advance(oauthd.access_token_lifetime + 1)
        assert send("an hour later") == 1
    assert [r["grant_type"] for r in oauthd.token_requests][-1] == "refresh_token"
    assert len(oauthd.token_requests) == 3
    assert [outcome for _user, outcome in mail_server.handler.attempts] == ["ok"] * 3
    assert stored(profile).oauth_refresh_token == refresh_token  # no reconnect


def test_a_kept_token_the_server_refuses_is_replaced_once_and_the_mail_goes_out(
    profile, oauthd, mail_server, use_backend, settings
):
    """The provider's clock runs ahead of ours (or it revoked the token early): the token
    the app kept still looks valid to it, the mail server refuses it; the app asks for a
    new one once and the mail goes out on the same send."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL": False}  # a login per send
    oauthd.rotate_refresh_tokens = False
    connect_with_device_code(oauthd)
    assert send("first") == 1
    oauthd.clock.advance(oauthd.access_token_lifetime + 1)  # only the servers' clock
    assert send("second") == 1
    assert [outcome for _user, outcome in mail_server.handler.attempts] == ["ok", "refused", "ok"]
    assert len(mail_server.messages) == 2
    assert [r["grant_type"] for r in oauthd.token_requests].count("refresh_token") == 2


def test_a_pooled_connection_is_not_used_past_the_token_it_logged_in_with(
    admin_client, profile, oauthd, mail_server, use_backend
):
    """The pool keeps the logged-in connection for the next sends while its access token
    is used; once the token is no longer used (an hour later), a new connection logs in
    with a new one."""
    oauthd.rotate_refresh_tokens = False
    connect_in_admin(admin_client, profile)
    assert send("first") == 1
    assert send("second") == 1  # the same connection: no second login
    assert [outcome for _user, outcome in mail_server.handler.attempts] == ["ok"]
    with process_time_follows(oauthd.clock):
        oauthd.clock.advance(oauthd.access_token_lifetime + 1)
        assert send("an hour later") == 1
    assert [outcome for _user, outcome in mail_server.handler.attempts] == ["ok", "ok"]
    assert [r["grant_type"] for r in oauthd.token_requests][-1] == "refresh_token"
    assert len(mail_server.messages) == 3


def test_smtp_auth_disabled_at_microsoft_365_is_diagnosed_with_the_fix(oauthd, db):
    with running_smtp_server(handler=XOAuth2Handler(oauthd, smtp_auth_disabled=True)) as server:
        make_profile(oauthd, server)
        connect_with_device_code(oauthd)
        status, report = smtp_test()
    assert status == 1
    assert report["steps"][-1]["name"] == "auth"
    assert report["diagnosis"]["code"] == "microsoft365_auth"
    assert "SmtpClientAuthenticationDisabled" in report["diagnosis"]["fix"]
    # No token can help: it is not asked for again.
    assert [r["grant_type"] for r in oauthd.token_requests].count("refresh_token") == 1


def test_with_rotation_each_refresh_stores_the_new_refresh_token(
    admin_client, profile, oauthd, mail_server, use_backend
):
    connect_in_admin(admin_client, profile)
    for subject in ("first", "second"):
        assert send(subject) == 1
        assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]
    assert len(oauthd.live_refresh_tokens(USER)) == 1
    assert [outcome for _user, outcome in mail_server.handler.attempts] == ["ok", "ok"]


def test_after_a_rotation_the_next_send_uses_the_kept_access_token(
    profile, oauthd, mail_server, use_backend
):
    """A rotated refresh token does not make the kept access token unfindable: one refresh
    for several sends, not one per send (Microsoft rotates on every refresh)."""
    connect_with_device_code(oauthd)
    for subject in ("first", "second", "third"):
        assert send(subject) == 1
    assert [r["grant_type"] for r in oauthd.token_requests].count("refresh_token") == 1
    assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]


def test_a_rotated_refresh_token_cannot_be_used_again(profile, oauthd, mail_server, use_backend):
    connect_with_device_code(oauthd)
    first = stored(profile).oauth_refresh_token
    assert send() == 1
    assert stored(profile).oauth_refresh_token != first  # rotated and stored
    again = {
        "grant_type": "refresh_token",
        "refresh_token": first,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    with pytest.raises(OAuthError) as refused:
        oauthd.token(again, None)
    assert refused.value.error == "invalid_grant"


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_keep_the_newest_refresh_token(
    oauthd, mail_server, use_backend
):
    """Two threads (each its own database connection) refresh with the same token at the
    same moment: the server rotates it once; the token stored is the one still alive and
    the site's mail goes on working."""
    profile = make_profile(oauthd, mail_server)
    connect_with_device_code(oauthd)
    oauthd.hold_refreshes(2)
    outcomes = []

    def worker(subject):
        try:
            outcomes.append(send(subject))
        except Exception as exc:  # the one whose refresh lost the race
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [meanwhile(lambda n=n: worker(f"worker {n}")) for n in (1, 2)]
    for thread in threads:
        thread.join(20)
    refreshes = [r for r in oauthd.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) >= 2  # both asked with the same token at once
    assert outcomes == [1, 1], outcomes  # the loser took the winner's newer token: no mail lost
    [alive] = oauthd.live_refresh_tokens(USER)
    assert stored(profile).oauth_refresh_token == alive

    assert send("later") == 1
    assert stored(profile).oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]


def test_revoked_consent_is_diagnosed_and_the_mail_fails_over(
    profile, oauthd, mail_server, make_profile, plain_server, use_backend
):
    connect_with_device_code(oauthd)
    make_profile(name="Backup", port=plain_server.port, is_default=False, priority=200)
    oauthd.revoke_consent(USER)

    status, report = smtp_test()
    assert status == 1
    assert report["steps"][-1]["name"] == "token"
    assert report["diagnosis"]["code"] == "oauth_invalid_grant"
    assert "Connect the account again" in report["diagnosis"]["fix"]
    assert mail_server.handler.attempts == []  # nothing reached the mail server

    assert send() == 1
    assert len(plain_server.messages) == 1 and mail_server.messages == []
    row = DeliveryLog.objects.get()
    assert row.outcome == "failed_over"
    assert row.tried[0]["profile"] == "OAuth" and row.profile_name == "Backup"


# Secrets stay secret.


def test_no_secret_in_any_page_log_transcript_or_database_column(
    admin_client, profile, oauthd, mail_server, use_backend, caplog
):
    caplog.set_level(logging.DEBUG)
    shown = [connect_in_admin(admin_client, profile).content.decode()]
    shown.append(admin_client.post(change_url(profile), send_test_form(profile)).content.decode())
    shown.append(admin_client.get(change_url(profile)).content.decode())
    shown.append(json.dumps(smtp_test()[1]))  # the report, with its transcript
    shown.append(connect_with_device_code(oauthd))
    send()
    shown.append(caplog.text)
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from the db)
            rows.extend(str(row) for row in cursor.fetchall())
    everything = "\n".join(shown + rows)
    secrets = oauthd.secrets()
    assert len(secrets) >= 6  # client secret, code, device code, access and refresh tokens
    leaked = [secret for secret in secrets if secret in everything]
    assert leaked == []


# The mail server's modes (what the diagnoses of Microsoft's and Google's replies meet).


def xoauth2(server, user: str, token: str) -> list[tuple[int, bytes]]:
    """AUTH XOAUTH2 by hand with smtplib: each reply, answering a 334 with an empty line."""
    sasl = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=5) as client:
        client.ehlo()
        replies = [client.docmd("AUTH", "XOAUTH2 " + sasl)]
        if replies[-1][0] == 334:
            replies.append(client.docmd(""))
        return replies


def live_access_token(oauthd) -> str:
    return oauthd.token(
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        None,
    )["access_token"]


@pytest.mark.parametrize("style", ["microsoft", "google"])
def test_the_xoauth2_server_takes_only_live_tokens_and_refuses_in_the_providers_words(
    oauthd, style
):
    with running_smtp_server(handler=XOAuth2Handler(oauthd, style=style)) as server:
        token = live_access_token(oauthd)
        assert xoauth2(server, USER, token)[0][0] == 235
        assert xoauth2(server, "stranger@example.com", token)[-1][0] == 535  # not an account
        oauthd.clock.advance(oauthd.access_token_lifetime)
        refused = xoauth2(server, USER, token)
    if style == "microsoft":
        assert refused == [(535, MICROSOFT_BAD_TOKEN.removeprefix("535 ").encode())]
    else:
        (challenge_code, challenge), (code, reply) = refused
        assert challenge_code == 334
        assert json.loads(base64.b64decode(challenge))["status"] == "401"
        assert code == 535 and reply.startswith(b"5.7.8 Username and Password not accepted")
        assert reply.endswith(b"- gsmtp")


def test_the_xoauth2_server_with_smtp_auth_disabled_refuses_even_a_live_token(oauthd):
    handler = XOAuth2Handler(oauthd, smtp_auth_disabled=True)
    with running_smtp_server(handler=handler) as server:
        [(code, reply)] = xoauth2(server, USER, live_access_token(oauthd))
    assert code == 535 and reply.startswith(b"5.7.139 Authentication unsuccessful")
    assert b"SmtpClientAuthentication is disabled for the Tenant" in reply
    assert handler.attempts == [(USER, "disabled")]


@pytest.mark.parametrize(
    ("secret", "status"), [(CLIENT_SECRET, 200), ("wrong", 401)], ids=["right", "wrong"]
)
def test_the_token_endpoint_takes_the_client_secret_as_http_basic_too(oauthd, secret, status):
    """(client_secret_basic: the id and secret form-encoded, then base64, RFC 6749 2.3.1.)"""
    pair = f"{urllib.parse.quote_plus(CLIENT_ID)}:{urllib.parse.quote_plus(secret)}"
    request = urllib.request.Request(  # noqa: S310 (oauthd's http:// on 127.0.0.1)
        oauthd.token_url,
        data=b"grant_type=client_credentials&scope=.default",
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            answer, code = json.load(response), response.status
    except urllib.error.HTTPError as error:
        answer, code = json.load(error), error.code
        assert error.headers["WWW-Authenticate"].startswith("Basic")
    assert code == status
    assert ("access_token" in answer) == (status == 200)
    assert oauthd.token_requests == [{"grant_type": "client_credentials", "client_auth": "basic"}]
