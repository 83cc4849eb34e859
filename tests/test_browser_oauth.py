"""Connecting an OAuth2 account in a real browser (Chromium, driven by Playwright).

An administrator signs in, opens a profile that signs in with OAuth2 at a custom
provider (tests/oauthd.py on 127.0.0.1, over HTTP), presses "Connect account",
approves on the provider's own consent page, comes back connected, sends a test
email and sees the Token step before Authentication; the mail arrives at a server
that took AUTH XOAUTH2 with the token the provider issued.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from smtpconfig.models import SMTPProfile

from .browser import change_url, screenshot, sign_in, skip_without_chromium, wait_for_messages
from .oauthd import XOAuth2Handler, running_oauth_server
from .smtpd import running_smtp_server

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

USER = "mailer@example.com"
CLIENT_ID, CLIENT_SECRET = "smtp-settings-app", "browser-client-secret-42"
CALLBACK = reverse("admin:smtpconfig_smtpprofile_oauth_callback")


@pytest.fixture
def oauthd(settings, live_server):
    """The provider, with the app registered for the live server's callback (the redirect
    URI the profile page shows when OAUTH_REDIRECT_BASE is unset)."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OAUTH_ALLOW_HTTP": True}
    settings.SMTPCONFIG.pop("OAUTH_REDIRECT_BASE", None)
    with running_oauth_server(users=[USER]) as server:
        server.add_client(
            CLIENT_ID,
            secret=CLIENT_SECRET,
            redirect_uris=[live_server.url + CALLBACK],
            name="Example Site mail",
        )
        yield server


@pytest.fixture
def mail_server(oauthd):
    with running_smtp_server(handler=XOAuth2Handler(oauthd)) as server:
        yield server


def test_connect_account_approve_and_send_a_test_email(
    open_page, live_server, admin, oauthd, mail_server
):
    profile = SMTPProfile(
        name="Microsoft 365 (test provider)",
        host="127.0.0.1",
        port=mail_server.port,
        security="none",
        allow_plaintext_auth=True,
        username=USER,
        from_email=USER,
        timeout=5,
        is_default=True,
        auth_method="oauth2",
        oauth_provider="custom",
        oauth_authorization_endpoint=oauthd.authorize_url,
        oauth_token_endpoint=oauthd.token_url,
        oauth_client_id=CLIENT_ID,
        oauth_scopes="SMTP.Send offline_access",
        oauth_client_secret=CLIENT_SECRET,
    )
    profile.save()
    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    expect(page.locator("body")).to_contain_text(live_server.url + CALLBACK)

    page.get_by_role("link", name="Connect account").click()
    expect(page.locator("h1")).to_have_text("Let this app send mail as you?")
    assert page.url.startswith(oauthd.authorize_url)
    expect(page.locator("main")).to_contain_text("Example Site mail")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator("ul.messagelist")).to_contain_text("The account is connected")
    assert page.url.startswith(live_server.url + change_url(profile))
    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert stored.oauth_refresh_token == oauthd.live_refresh_tokens(USER)[0]

    page.locator("#id_test_to").fill("check@example.org")
    page.locator('input[name="_send_test"]').click()
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_have_text("The server accepted the test email")
    steps = report.locator("table.smtpconfig-steps tbody th[scope=row]")
    expect(steps.first).to_have_text("Token")
    names = steps.all_inner_texts()
    assert names.index("Token") < names.index("Authentication")
    expect(report.locator("tr.smtpconfig-step-failed")).to_have_count(0)

    [message] = wait_for_messages(mail_server, 1)
    assert message.rcpt_tos == ["check@example.org"] and message.auth_login == USER
    assert mail_server.handler.attempts == [(USER, "ok")]
    screenshot(page, "oauth2-connected.png")
    html = page.content()
    assert not [secret for secret in oauthd.secrets() if secret in html]


def test_a_new_administrator_moves_a_microsoft_365_password_profile_to_oauth2(
    open_page, live_server, admin, oauthd, mail_server
):
    """The issue's "done when", in the browser: a profile that signs in to Microsoft 365
    with a password is named in the list; "Switch to OAuth2" opens it with OAuth2 chosen;
    the administrator fills in the app (here the test provider's endpoints and a test
    mail server), saves, connects the account and sends a test email through it."""
    profile = SMTPProfile(
        name="Office",
        host="smtp.office365.com",
        port=587,
        security="starttls",
        username=USER,
        from_email=USER,
        timeout=5,
        is_default=True,
    )
    profile.password = "old-basic-auth-password"
    profile.save()
    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + reverse("admin:smtpconfig_smtpprofile_changelist"))
    banner = page.locator(".smtpconfig-readiness, .messagelist, #content").first
    expect(banner).to_contain_text("end of December 2026")
    page.get_by_role("button", name="Switch to OAuth2").or_(
        page.get_by_role("link", name="Switch to OAuth2")
    ).first.click()

    expect(page.locator("#id_auth_method")).to_have_value("oauth2")
    expect(page.locator("#id_name")).to_have_value("Office")
    expect(page.locator("#id_password")).to_be_hidden()  # a password has no use now
    # The app registered at the (test) provider, and the (test) mail server.
    page.locator("#id_oauth_provider").select_option("custom")
    page.locator("#id_oauth_authorization_endpoint").fill(oauthd.authorize_url)
    page.locator("#id_oauth_token_endpoint").fill(oauthd.token_url)
    page.locator("#id_oauth_client_id").fill(CLIENT_ID)
    page.locator("#id_oauth_client_secret").fill(CLIENT_SECRET)
    page.locator("#id_oauth_scopes").fill("SMTP.Send offline_access")
    page.locator("#id_host").fill("127.0.0.1")
    page.locator("#id_port").fill(str(mail_server.port))
    page.locator("#id_security").select_option("none")
    page.locator("#id_allow_plaintext_auth").check()
    page.locator('input[name="_continue"]').first.click()
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")

    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert (stored.name, stored.is_default, stored.auth_method) == ("Office", True, "oauth2")
    page.get_by_role("link", name="Connect account").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("ul.messagelist")).to_contain_text("The account is connected")

    page.locator("#id_test_to").fill("check@example.org")
    page.locator('input[name="_send_test"]').click()
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_have_text("The server accepted the test email")
    expect(report.locator("table.smtpconfig-steps tbody th[scope=row]").first).to_have_text("Token")
    [message] = wait_for_messages(mail_server, 1)
    assert message.auth_login == USER
    page.goto(live_server.url + reverse("admin:smtpconfig_smtpprofile_changelist"))
    expect(page.locator("#content")).not_to_contain_text("end of December 2026")
    assert "old-basic-auth-password" not in page.content()
