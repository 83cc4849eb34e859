"""In Chromium, JavaScript on and off: a typed password survives a test, the test made
before the first save is kept by it, and a profile not known to work warns."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from smtpconfig.models import SMTPProfile

from .browser import ADD_URL, LIST_URL, input_values, sign_in, skip_without_chromium
from .helpers import PASSWORD, USER

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_password_typed_then_tested_is_saved_with_the_test(
    js, open_page, live_server, admin, auth_server
):
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + ADD_URL)
    page.locator("#id_name").fill("Relay")
    page.locator("#id_host").fill("127.0.0.1")
    page.locator("#id_port").fill(str(auth_server.port))
    page.locator("#id_security").select_option("none")
    page.locator("#id_allow_plaintext_auth").check()
    page.locator("#id_username").fill(USER)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_from_email").fill(USER)
    page.locator("#id_test_to").fill("check@example.org")
    page.locator('input[name="_send_test"]').click()
    expect(page.locator("#smtpconfig-report h2")).to_have_text("The server accepted the test email")
    if not js:  # a new page: the password is carried, never shown
        expect(page.locator("#id_password")).to_have_value("")
        expect(page.locator("#id_password_helptext")).to_contain_text(
            "The password you typed is kept for this form"
        )
        assert PASSWORD not in page.content()
        assert not [value for value in input_values(page) if PASSWORD in value]

    page.locator('input[name="_continue"]').first.click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    expect(page.locator("ul.messagelist")).not_to_contain_text("never been tested")
    profile = SMTPProfile.objects.get(name="Relay")
    assert profile.password == PASSWORD
    assert profile.last_test_ok is True
    assert profile.last_test_report["ok"] is True
    expect(page.locator("#id_password_helptext")).to_contain_text("A password is stored")


def test_making_a_failing_profile_the_default_warns_and_offers_the_test(
    js, open_page, live_server, admin, make_profile
):
    make_profile(name="Current")
    make_profile(
        name="Failing", is_default=False, last_test_ok=False, last_test_at="2026-01-01T00:00Z"
    )
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    page.locator("#result_list tr", has_text="Failing").locator("input.action-select").check()
    page.locator('select[name="action"]').select_option("make_default")
    page.locator('button[name="index"]').click()
    messages = page.locator("ul.messagelist")
    expect(messages).to_contain_text("“Failing” is now the default profile.")
    expect(messages.locator("li.warning")).to_contain_text("The last test of “Failing” failed.")
    messages.get_by_role("link", name="Test it").click()
    expect(page.locator("#smtpconfig-test")).to_be_visible()
    expect(page.locator("#id_name")).to_have_value("Failing")
