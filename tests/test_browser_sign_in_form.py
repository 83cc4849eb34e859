"""The profile form shows the fields of the chosen sign-in method (issue 12): with
JavaScript only those; without it all of them, under headings that name their method."""

import pytest
from playwright.sync_api import expect

from smtpconfig.models import SMTPProfile

from .browser import ADD_URL, PHONE, sign_in, skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD_SET = "fieldset.smtpconfig-for-password"
OAUTH2_SET = "fieldset.smtpconfig-for-oauth2"
CUSTOM_SET = "fieldset.smtpconfig-for-custom"


def add_page(open_page, live_server, **options):
    page = open_page(**options)
    sign_in(page, live_server)
    page.goto(live_server.url + ADD_URL)
    return page


def test_with_javascript_the_fields_follow_the_method_and_the_provider(
    open_page, live_server, admin
):
    page = add_page(open_page, live_server)
    method, provider = page.locator("#id_auth_method"), page.locator("#id_oauth_provider")

    # A new profile signs in with a password: no OAuth2 fields.
    expect(page.locator("#id_password")).to_be_visible()
    expect(page.locator("#id_oauth_client_id")).to_be_hidden()
    expect(page.locator("#id_oauth_token_endpoint")).to_be_hidden()
    page.locator("#id_password").fill("typed-secret")

    method.select_option("oauth2")
    expect(page.locator("#id_password")).to_be_hidden()
    expect(page.locator("#id_oauth_client_id")).to_be_visible()
    expect(page.locator("#id_oauth_tenant")).to_be_visible()  # Microsoft, the default
    expect(page.locator("#id_oauth_token_endpoint")).to_be_hidden()

    provider.select_option("google")
    expect(page.locator("#id_oauth_tenant")).to_be_hidden()
    expect(page.locator("#id_oauth_token_endpoint")).to_be_hidden()
    provider.select_option("custom")
    expect(page.locator("#id_oauth_token_endpoint")).to_be_visible()
    expect(page.locator("#id_oauth_device_authorization_endpoint")).to_be_visible()

    # The client secret's hint fits the kind of sign-in.
    help_text = page.locator("#id_oauth_client_secret_helptext")
    page.locator("#id_oauth_grant").select_option("client_credentials")
    expect(help_text).to_contain_text("App-only access needs")
    page.locator("#id_oauth_grant").select_option("refresh_token")
    expect(help_text).to_contain_text("connected account")

    method.select_option("none")
    for selector in (PASSWORD_SET, OAUTH2_SET, CUSTOM_SET):
        expect(page.locator(selector)).to_be_hidden()

    # Hidden fields keep their values: switching back shows what was there.
    method.select_option("password")
    expect(page.locator("#id_password")).to_have_value("typed-secret")
    method.select_option("oauth2")
    expect(provider).to_have_value("custom")
    expect(page.locator("#id_oauth_token_endpoint")).to_be_visible()


def test_the_microsoft_365_preset_chooses_oauth2_and_shows_its_fields(
    open_page, live_server, admin
):
    page = add_page(open_page, live_server)
    page.locator("#id_preset").select_option("microsoft365")
    expect(page.locator("#id_auth_method")).to_have_value("oauth2")
    expect(page.locator("#id_oauth_provider")).to_have_value("microsoft")
    expect(page.locator("#id_oauth_tenant")).to_have_value("organizations")
    expect(page.locator("#id_oauth_grant")).to_have_value("refresh_token")
    expect(page.locator("#id_oauth_client_id")).to_be_visible()
    expect(page.locator("#id_password")).to_be_hidden()
    expect(page.locator("#id_preset_helptext")).to_contain_text("SMTP.Send")

    # What a preset filled is replaced by the next preset's.
    page.locator("#id_preset").select_option("outlook")
    expect(page.locator("#id_oauth_tenant")).to_have_value("consumers")
    page.locator("#id_preset").select_option("gmail_oauth2")
    expect(page.locator("#id_oauth_provider")).to_have_value("google")
    expect(page.locator("#id_oauth_tenant")).to_be_hidden()
    page.locator("#id_preset").select_option("gmail")
    expect(page.locator("#id_auth_method")).to_have_value("password")
    expect(page.locator("#id_password")).to_be_visible()

    # What the admin chose is kept.
    page.locator("#id_auth_method").select_option("none")
    page.locator("#id_preset").select_option("microsoft365")
    expect(page.locator("#id_auth_method")).to_have_value("none")
    expect(page.locator("#id_oauth_client_id")).to_be_hidden()


def test_without_javascript_every_field_shows_under_its_method_and_oauth2_saves(
    open_page, live_server, admin
):
    page = add_page(open_page, live_server, js=False)
    for field in (
        "password",
        "oauth_provider",
        "oauth_tenant",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_token_endpoint",
    ):
        expect(page.locator(f"#id_{field}")).to_be_visible()
    expect(page.locator(f"{PASSWORD_SET} h2")).to_have_text("Password sign-in")
    expect(page.locator(f"{OAUTH2_SET} h2")).to_have_text("OAuth2 sign-in")
    expect(page.locator(f"{CUSTOM_SET} .description")).to_contain_text("Other (its own endpoints)")

    page.locator("#id_name").fill("Office")
    page.locator("#id_host").fill("smtp.office365.com")
    page.locator("#id_port").fill("587")
    page.locator("#id_security").select_option("starttls")
    page.locator("#id_from_email").fill("boss@contoso.com")
    page.locator("#id_username").fill("boss@contoso.com")
    page.locator("#id_auth_method").select_option("oauth2")
    page.locator("#id_oauth_client_id").fill("00000000-0000-0000-0000-000000000001")
    page.locator('input[name="_save"]').first.click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    profile = SMTPProfile.objects.get(name="Office")
    assert (profile.auth_method, profile.oauth_provider, profile.oauth_tenant) == (
        "oauth2",
        "microsoft",
        "organizations",
    )


def test_the_sign_in_fields_fit_a_phone(js, open_page, live_server, admin):
    page = add_page(open_page, live_server, js=js, viewport=PHONE)
    if js:  # the widest state: OAuth2 with another provider's endpoints
        page.locator("#id_auth_method").select_option("oauth2")
        page.locator("#id_oauth_provider").select_option("custom")
        expect(page.locator("#id_oauth_token_endpoint")).to_be_visible()
    width, page_width = page.evaluate(
        "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert page_width <= width
