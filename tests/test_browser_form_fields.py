"""The profile form's fields (issue 13, items 7, 8 and 12): the provider kept after save,
a preset-filled user name that follows the next preset, one test recipient, certificate
fields only with TLS, and the layout of "Detect settings" and the sender domain's row."""

import pytest
from playwright.sync_api import expect

from smtpconfig.models import SMTPProfile

from .browser import ADD_URL, DESKTOP, PHONE, change_url, sign_in, skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "site@example.com"


def signed_in(open_page, live_server, url, **options):
    page = open_page(**options)
    sign_in(page, live_server)
    page.goto(live_server.url + url)
    return page


def make_profile(**fields) -> SMTPProfile:
    values = {"name": "Main", "host": "127.0.0.1", "port": 25, "security": "none"}
    return SMTPProfile.objects.create(**{**values, "from_email": SENDER, **fields})


def save_and_continue(page):
    page.locator('input[name="_continue"]').first.click()
    expect(page.locator("ul.messagelist .success")).to_be_visible()


def test_the_provider_is_shown_again_with_its_note_after_save(js, open_page, live_server, admin):
    page = signed_in(open_page, live_server, ADD_URL, js=js)
    page.locator("#id_name").fill("Gmail")
    page.locator("#id_preset").select_option("gmail")
    page.locator("#id_from_email").fill(SENDER)
    # Without JavaScript the server fills in the blank host when the form is saved.
    save_and_continue(page)
    profile = SMTPProfile.objects.get(name="Gmail")
    assert (profile.provider, profile.host) == ("gmail", "smtp.gmail.com")

    page.goto(live_server.url + change_url(profile))
    expect(page.locator("#id_preset")).to_have_value("gmail")
    expect(page.locator("#id_preset_helptext")).to_contain_text("app password")

    # "Other" clears it, and a Gmail host saved as Other reopens as Other.
    page.locator("#id_preset").select_option("other")
    save_and_continue(page)
    profile.refresh_from_db()
    assert (profile.provider, profile.host) == ("", "smtp.gmail.com")
    expect(page.locator("#id_preset")).to_have_value("other")
    expect(page.locator("#id_preset_helptext")).to_contain_text("Enter the settings your provider")


def test_with_javascript_a_preset_filled_user_name_follows_the_next_preset(
    open_page, live_server, admin
):
    page = signed_in(open_page, live_server, ADD_URL)
    preset, username = page.locator("#id_preset"), page.locator("#id_username")
    page.locator("#id_from_email").fill(SENDER)
    preset.select_option("sendgrid")
    expect(username).to_have_value("apikey")
    preset.select_option("microsoft365")
    expect(username).to_have_value(SENDER)
    preset.select_option("sendgrid")
    expect(username).to_have_value("apikey")
    preset.select_option("zoho")
    expect(username).to_have_value(SENDER)
    preset.select_option("brevo")  # no rule: emptied rather than left stale
    expect(username).to_have_value("")

    username.fill("typed@corp.example")
    preset.select_option("sendgrid")
    expect(username).to_have_value("typed@corp.example")
    expect(page.locator("#id_host")).to_have_value("smtp.sendgrid.net")


def test_a_saved_user_name_is_kept_and_a_saved_presets_follows(open_page, live_server, admin):
    typed = make_profile(name="Typed", host="smtp.gmail.com", provider="gmail", username="me@x.org")
    page = signed_in(open_page, live_server, change_url(typed))
    page.locator("#id_preset").select_option("sendgrid")
    expect(page.locator("#id_username")).to_have_value("me@x.org")

    filled = make_profile(host="smtp.sendgrid.net", provider="sendgrid", username="apikey")
    page.goto(live_server.url + change_url(filled))
    page.locator("#id_preset").select_option("zoho")
    expect(page.locator("#id_username")).to_have_value(SENDER)


def test_without_javascript_a_preset_filled_user_name_follows_the_next_preset(
    open_page, live_server, admin
):
    profile = make_profile(host="smtp.sendgrid.net", provider="sendgrid", username="apikey")
    page = signed_in(open_page, live_server, change_url(profile), js=False)
    page.locator("#id_preset").select_option("brevo")
    save_and_continue(page)
    profile.refresh_from_db()
    assert (profile.provider, profile.host, profile.username) == (
        "brevo",
        "smtp-relay.brevo.com",
        "",
    )
    expect(page.locator("#id_username")).to_have_value("")


def test_one_box_holds_the_test_recipient(js, open_page, live_server, admin):
    profile = make_profile(test_recipient="old@example.org")
    page = signed_in(open_page, live_server, change_url(profile), js=js)
    expect(page.locator("#id_test_recipient")).to_have_count(0)
    box = page.locator("#id_test_to")
    expect(box).to_have_value("old@example.org")
    box.fill("new@example.org")
    save_and_continue(page)
    profile.refresh_from_db()
    assert profile.test_recipient == "new@example.org"
    expect(page.locator("#id_test_to")).to_have_value("new@example.org")


def test_certificate_fields_are_hidden_for_mode_none_with_javascript(
    js, open_page, live_server, admin
):
    page = signed_in(open_page, live_server, ADD_URL, js=js)
    verify, ca = page.locator("#id_verify_certificate"), page.locator("#id_ca_certificate")
    security = page.locator("#id_security")
    expect(verify).to_be_visible()
    security.select_option("none")
    if js:
        expect(verify).to_be_hidden()
        expect(ca).to_be_hidden()
        security.select_option("ssl")
        expect(verify).to_be_visible()
        expect(ca).to_be_visible()
        page.locator("#id_preset").select_option("other")
        page.locator("#id_host").fill("relay.example.org")
        security.select_option("none")
        page.locator("#id_preset").select_option("gmail")  # a preset's mode shows them again
        expect(ca).to_be_visible()
    else:
        expect(verify).to_be_visible()
        expect(ca).to_be_visible()
        expect(page.locator("#id_verify_certificate_helptext")).to_contain_text(
            "Not used when the SSL/TLS mode is None."
        )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_detect_settings_sits_beside_the_address_with_a_gap(
    js, viewport, open_page, live_server, admin
):
    page = signed_in(open_page, live_server, ADD_URL, js=js, viewport=viewport)
    email = page.locator("#id_from_email").bounding_box()
    button = page.locator("button.smtpconfig-detect").bounding_box()
    if button["y"] >= email["y"] + email["height"]:  # wrapped under it
        gap = button["y"] - (email["y"] + email["height"])
    else:
        gap = button["x"] - (email["x"] + email["width"])
        assert abs(button["height"] - email["height"]) <= 2, (button, email)
        assert abs(button["y"] - email["y"]) <= 2, (button, email)
    assert gap >= 6, (button, email)
    assert button["width"] > 60 and button["height"] >= 24, button  # a button, not a strip
    width, page_width = page.evaluate(
        "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert page_width <= width


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_the_sender_domain_row_lines_up_with_the_other_fields(
    viewport, open_page, live_server, admin
):
    profile = make_profile(from_email="site@example.com")
    page = signed_in(open_page, live_server, change_url(profile), viewport=viewport)
    findings = page.locator(".field-sender_domain_health .readonly").first
    expect(findings).to_be_visible()
    content = page.locator(".field-sender_domain_health .smtpconfig-findings").first
    reply_to = page.locator("#id_reply_to").bounding_box()
    left = content.bounding_box()["x"]
    assert abs(left - reply_to["x"]) <= 12, (left, reply_to["x"])
