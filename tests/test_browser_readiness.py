"""End to end in Chromium: the banner for a Microsoft 365 profile that still signs in with a
password, and its "Switch to OAuth2" button, with JavaScript on and off (issue 12)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from smtpconfig.models import Security, SMTPProfile

from .browser import LIST_URL, change_url, sign_in, skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def m365_profile():
    return SMTPProfile.objects.create(
        name="Office",
        host="smtp.office365.com",
        port=587,
        security=Security.STARTTLS,
        username="mailer@contoso.com",
        password="still-a-password",
        from_email="mailer@contoso.com",
        is_default=True,
    )


def test_the_banner_names_the_profile_and_switch_opens_it_with_oauth2_unsaved(
    open_page, live_server, admin, m365_profile, js
):
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    banner = page.locator("ul.messagelist li.warning", has_text="“Office”")
    expect(banner).to_contain_text("December 2026")

    banner.get_by_role("link", name="Switch to OAuth2").click()
    expect(page.locator("#id_auth_method")).to_have_value("oauth2")
    expect(page.locator("#id_name")).to_have_value("Office")
    expect(page.locator("ul.messagelist")).to_contain_text("Nothing is saved until you save")
    # The form saves to the profile's own page; nothing changed until then.
    form_action = page.locator("#smtpprofile_form").get_attribute("action")
    assert form_action == change_url(m365_profile)
    stored = SMTPProfile.objects.get(pk=m365_profile.pk)
    assert stored.auth_method == "password" and stored.password == "still-a-password"
