"""End to end in a real browser: Playwright drives Debian's Chromium against the live server.

What a person does in the admin, with JavaScript on and (where the page promises it
works without) off: add a profile from a preset, test it, detect settings from an
address, and reset a forgotten password through the default profile. Every server
the pages talk to is on 127.0.0.1: the live server, aiosmtpd (tests/smtpd.py) and a
DNS server (tests/dnsd.py). The tests also take the screenshots in docs/screenshots/.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from smtpconfig.models import Security, SMTPProfile

from .browser import (
    ADD_URL,
    LIST_URL,
    PHONE,
    change_url,
    input_values,
    screenshot,
    sign_in,
    skip_without_chromium,
    wait_for_messages,
)
from .dnsd import Zone, running_dns_server
from .helpers import run_ready_tasks

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


# 1. A profile from a preset; the password is write-only.

TYPED_PASSWORD = "Browser-Secret-ÿ42!"


def test_add_profile_from_gmail_preset_and_password_is_never_shown(
    open_page, live_server, admin, plain_server
):
    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + ADD_URL)
    page.locator("#id_name").fill("Main")
    page.locator("#id_from_name").fill("Example Site")
    page.locator("#id_from_email").fill("noreply@example.com")

    page.locator("#id_preset").select_option("gmail")
    expect(page.locator("#id_host")).to_have_value("smtp.gmail.com")
    expect(page.locator("#id_port")).to_have_value("465")
    expect(page.locator("#id_security")).to_have_value("ssl")
    expect(page.locator("#id_preset_helptext")).to_contain_text("use 587 with STARTTLS")
    expect(page.locator("#id_username")).to_have_value("noreply@example.com")
    expect(page.locator("#id_preset_helptext")).to_contain_text("app password")
    expect(page.locator("#id_preset_region")).to_be_hidden()  # Gmail has no regions
    screenshot(page, "profile-form-preset.png", full_page=True)

    # Now point it at the local server instead, with a password.
    page.locator("#id_host").fill("127.0.0.1")
    page.locator("#id_security").select_option("none")
    page.locator("#id_port").fill(str(plain_server.port))
    page.locator("#id_password").fill(TYPED_PASSWORD)
    page.locator('input[name="_save"]').first.click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")

    profile = SMTPProfile.objects.get(name="Main")
    assert (profile.host, profile.port, profile.security) == (
        "127.0.0.1",
        plain_server.port,
        "none",
    )
    assert profile.password == TYPED_PASSWORD  # stored (encrypted), so there is one to leak

    page.locator("#result_list").get_by_role("link", name="Main", exact=True).click()
    expect(page.locator("#id_host")).to_have_value("127.0.0.1")
    expect(page.locator("#id_password_helptext")).to_contain_text("A password is stored")
    assert TYPED_PASSWORD not in page.content()
    assert profile.password_encrypted not in page.content()
    values = input_values(page)
    assert values  # the form's inputs were read
    assert not [value for value in values if TYPED_PASSWORD in value]


# 2. Send test email / Check connection, in the page and without JavaScript.

STEPS_OF_A_SEND = [
    "Resolve host",
    "Connect",
    "Greeting and EHLO",
    "Sender (MAIL FROM)",
    "Recipient (RCPT TO)",
    "Message (DATA)",
]


def press_test_button(page, name: str, recipient: str = "check@example.org") -> None:
    page.locator("#id_test_to").fill(recipient)
    page.locator(f'input[name="{name}"]').click()


@pytest.fixture
def healthy_example_com(settings):
    """DNS on 127.0.0.1 in which the sender's domain, example.com, is well set up."""
    zone = Zone(
        {
            ("example.com", "MX"): ["10 mx.example.com."],
            ("example.com", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
            ("_dmarc.example.com", "TXT"): ['"v=DMARC1; p=quarantine"'],
        }
    )
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


def test_send_test_email_succeeds_and_shows_each_step(
    js, open_page, live_server, admin, plain_server, make_profile, healthy_example_com
):
    profile = make_profile(name="Main", port=plain_server.port)
    make_profile(
        name="Backup",
        host="smtp.backup.example",
        port=587,
        security=Security.STARTTLS,
        is_default=False,
        priority=200,
    )
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    if js:
        page.evaluate("() => { window.stillTheSamePage = true; }")

    press_test_button(page, "_send_test")
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_have_text("The server accepted the test email")
    step_names = report.locator("table.smtpconfig-steps tbody th[scope=row]")
    expect(step_names).to_have_text(STEPS_OF_A_SEND)
    expect(report.locator("tr.smtpconfig-step-failed")).to_have_count(0)
    expect(report).to_contain_text("250 2.0.0 Ok: queued as TEST0001")
    if js:  # tested in the page, without leaving it
        assert page.evaluate("() => window.stillTheSamePage === true")
        expect(report).to_be_focused()
    else:  # the form came back with the report and a message
        expect(page.locator("ul.messagelist")).to_contain_text("accepted")

    messages = wait_for_messages(plain_server, 1)
    assert len(messages) == 1
    assert messages[0].rcpt_tos == ["check@example.org"]
    assert messages[0].message["From"] == "Example Site <noreply@example.com>"

    if js:
        screenshot(page, "test-success.png")
        page.goto(live_server.url + LIST_URL)
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="Main")).to_contain_text("passed")
        expect(rows.filter(has_text="Backup")).to_contain_text("never")
        screenshot(page, "profile-list.png")


def test_wrong_mode_fails_and_names_the_step_and_the_fix(
    js, open_page, live_server, admin, plain_server, make_profile
):
    # SSL/TLS chosen for a server that speaks plain SMTP first.
    profile = make_profile(name="Main", port=plain_server.port, security=Security.SSL)
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))

    press_test_button(page, "_send_test")
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_have_text("The test failed at “TLS”")
    expect(report.locator("tr.smtpconfig-step-failed th")).to_have_text(["TLS"])
    expect(report).to_contain_text("wrong version number")
    diagnosis = report.locator(".smtpconfig-diagnosis")
    expect(diagnosis).to_contain_text("What to change")
    expect(diagnosis).to_contain_text("STARTTLS")
    expect(diagnosis.locator("strong", has_text="STARTTLS")).to_be_visible()  # the suggestion
    assert plain_server.messages == []
    if js:
        screenshot(page, "test-failure.png")


def test_check_connection_sends_nothing(
    js, open_page, live_server, admin, plain_server, make_profile
):
    profile = make_profile(name="Main", port=plain_server.port)
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))

    press_test_button(page, "_check_connection")
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_have_text("Connection check passed (nothing was sent)")
    expect(report.locator("tr.smtpconfig-step-failed")).to_have_count(0)
    expect(report.locator("table.smtpconfig-steps tbody th[scope=row]")).to_contain_text(
        ["Connect", "Recipient (RCPT TO)"]
    )
    time.sleep(0.2)  # a message sent by mistake would have arrived by now
    assert plain_server.messages == []


def test_save_after_a_test_saves(js, open_page, live_server, admin, plain_server, make_profile):
    """After a test (its page may be the test view's, without JavaScript), "Save" saves the
    form and runs no second test."""
    profile = make_profile(name="Main", port=plain_server.port)
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    press_test_button(page, "_check_connection")
    expect(page.locator("#smtpconfig-report h2")).to_have_text(
        "Connection check passed (nothing was sent)"
    )
    page.fill("#id_from_name", "Saved After Test")
    page.locator('input[name="_save"]').first.click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    profile.refresh_from_db()
    assert profile.from_name == "Saved After Test"


# 3. Detect settings from the sender address.


@pytest.fixture
def tenant_dns(settings):
    """A DNS server that knows tenant.test's MX (Microsoft 365), used by the live server."""
    zone = Zone({("tenant.test", "MX"): ["0 tenant-test.mail.protection.outlook.com."]})
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


def test_detect_settings_fills_the_form_from_an_address(
    js, open_page, live_server, admin, tenant_dns
):
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + ADD_URL)
    page.locator("#id_name").fill("Office")
    page.locator("#id_from_email").fill("boss@tenant.test")

    page.locator('button[name="_detect"]').click()
    discovery = page.locator("#smtpconfig-discovery")
    expect(discovery.locator("h2")).to_have_text("Settings found for boss@tenant.test")
    expect(discovery.locator("tbody th").first).to_have_text("smtp.office365.com:587")

    discovery.locator('button[name="_use_settings"]').first.click()
    expect(page.locator("#id_host")).to_have_value("smtp.office365.com")
    expect(page.locator("#id_port")).to_have_value("587")
    expect(page.locator("#id_security")).to_have_value("starttls")
    expect(page.locator("#id_username")).to_have_value("boss@tenant.test")
    expect(page.locator("#id_preset")).to_have_value("microsoft365")
    expect(page.locator("#id_name")).to_have_value("Office")  # what was typed is kept
    if not js:
        expect(page.locator("ul.messagelist")).to_contain_text("Test it, then save")
    assert not SMTPProfile.objects.exists()  # nothing is saved until Save


# 4. "Forgotten your password?" through the default profile.

NEW_PASSWORD = "New-Pass-456!"


def test_password_reset_from_the_admin_login_page(
    js, open_page, live_server, django_user_model, plain_server, make_profile, settings
):
    # The demo project's own path: the reset is a task, its email goes through the outbox.
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    make_profile(
        name="Main",
        host="127.0.0.1",
        port=plain_server.port,
        security=Security.NONE,
        from_email="noreply@example.com",
        from_name="Example Site",
        is_default=True,
    )
    django_user_model.objects.create_superuser("alice", "alice@example.org", "Old-Pass-123")

    page = open_page(js=js)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.locator("#id_email").fill("alice@example.org")
    page.get_by_role("button", name="Reset my password").click()
    expect(page.locator("#content h1")).to_have_text("Password reset sent")
    assert plain_server.messages == []  # the page did not wait for the mail server

    run_ready_tasks()  # what `manage.py db_worker` does: the reset, then the outbox
    messages = wait_for_messages(plain_server, 1)
    assert len(messages) == 1
    received = messages[0]
    assert received.rcpt_tos == ["alice@example.org"]
    assert received.message["From"] == "Example Site <noreply@example.com>"
    body = received.message.get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/reset/\S+/", body).group(0)
    assert link.startswith(f"{live_server.url}/reset/")  # the live server's own address

    page.goto(link)  # redirects to the set-password form
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator("#content")).to_contain_text("Your password has been set")

    sign_in(page, live_server, "alice", NEW_PASSWORD)


def test_log_in_link_after_a_password_reset_opens_the_admin_login(open_page, live_server):
    page = open_page()
    page.goto(f"{live_server.url}/reset/done/")
    expect(page.locator("#content")).to_contain_text("Your password has been set")
    with page.expect_navigation() as navigation:
        page.get_by_role("link", name="Log in").click()
    assert navigation.value.status == 200, f"{navigation.value.url}: {navigation.value.status}"
    expect(page.locator("#login-form")).to_be_visible()


# 5. The form on a phone.


def test_profile_form_fits_a_phone(open_page, live_server, admin, make_profile):
    profile = make_profile(
        name="Main",
        host="smtp.example.com",
        port=587,
        security="starttls",
        allow_plaintext_auth=False,
    )
    page = open_page(viewport=PHONE)
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    expect(page.locator("#id_host")).to_have_value("smtp.example.com")
    expect(page.locator('input[name="_send_test"]')).to_be_attached()
    # Nothing sticks out sideways: the whole form is usable without scrolling left and right.
    width, page_width = page.evaluate(
        "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert page_width <= width
    screenshot(page, "profile-form-phone.png")


# 6. In Russian.


def russian(text: str) -> str:
    from django.utils import translation

    with translation.override("ru"):
        return translation.gettext(text)


def test_russian_form_and_diagnosis(js, open_page, live_server, admin, plain_server, make_profile):
    """A browser asking for Russian gets the form, the buttons and the diagnosis in Russian."""
    profile = make_profile(name="Main", port=plain_server.port, security=Security.SSL)
    page = open_page(js=js, locale="ru-RU")
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    assert page.locator("html").get_attribute("lang") == "ru"
    send = page.locator('input[name="_send_test"]')
    assert russian("Send test email") != "Send test email"
    expect(send).to_have_value(russian("Send test email"))
    expect(page.locator("#content")).to_contain_text(russian("Test these settings"))

    press_test_button(page, "_send_test")
    report = page.locator("#smtpconfig-report")
    expect(report).to_contain_text(russian("What to change"))
    expect(report).to_contain_text(russian("Choose STARTTLS"))
    assert "What to change" not in report.inner_text()
    assert plain_server.messages == []
