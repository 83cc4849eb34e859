"""The profile list and the admin index in a real browser: the failover order edited in
the list, Enable/Disable, the phone layout, the mail status and the first-run guide."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from smtpconfig.models import DeliveryLog, DeliveryOutcome, Security, SMTPProfile

from .browser import ADD_URL, LIST_URL, PHONE, screenshot, sign_in, skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

INDEX_URL = reverse("admin:index")
LONG_HOST = "smtp-relay.eu-central-1.mail.example-hosting-provider.com"


def profile(name: str, **fields) -> SMTPProfile:
    values = {
        "name": name,
        "host": "127.0.0.1",
        "port": 25,
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "is_default": False,
    }
    return SMTPProfile.objects.create(**{**values, **fields})


def two_profiles() -> tuple[SMTPProfile, SMTPProfile]:
    main = profile(
        "Main",
        host=LONG_HOST,
        port=465,
        security=Security.SSL,
        is_default=True,
        priority=10,
        last_test_ok=True,
        last_test_at=timezone.now() - timedelta(hours=1),
    )
    backup = profile("Backup", priority=20, enabled=False)
    now = timezone.now()
    for minutes in (30, 20):
        DeliveryLog.objects.create(
            created_at=now - timedelta(minutes=minutes),
            profile=main,
            profile_name=main.name,
            outcome=DeliveryOutcome.SENT,
        )
    return main, backup


def horizontal_overflow(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_phone_list_shows_what_matters_without_scrolling_sideways(
    open_page, live_server, admin, js
):
    two_profiles()
    page = open_page(js=js, viewport=PHONE)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    assert horizontal_overflow(page) <= 0
    main_row = page.locator("#result_list tbody tr", has_text="Main")
    for cell in ("field-name", "field-is_default", "field-enabled", "field-last_test_column"):
        box = main_row.locator(f".{cell}").bounding_box()
        assert box is not None and box["width"] > 0, cell
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], cell
    # Each value is labelled with its column's heading, and the long host is shown whole.
    label = main_row.locator(".field-last_test_column").evaluate(
        "(cell) => getComputedStyle(cell, '::before').content"
    )
    assert label == '"Last test"'
    server = main_row.locator(".field-server_column")
    expect(server).to_contain_text(LONG_HOST)
    assert server.evaluate("(cell) => cell.scrollWidth <= cell.clientWidth")
    assert (
        main_row.locator(".field-sending_column").inner_text().strip().endswith("2 sent, 0 failed")
    )
    if js:
        screenshot(page, "profile-list-phone.png", full_page=True)


def test_desktop_list_shows_the_status_first(open_page, live_server, admin):
    two_profiles()
    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    headings = page.locator("#result_list thead th .text").all_text_contents()
    texts = [text.strip() for text in headings if text.strip()]
    assert texts[:5] == ["Name", "Default", "Enabled", "Last test", "Deliveries (24 h)"]
    expect(page.locator("#changelist-filter")).to_contain_text("By last test")
    # Every column fits beside the filter: the sender is not cut off.
    sender = page.locator("#result_list tbody tr", has_text="Main").locator(".field-sender_column")
    box = sender.bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert box["x"] + box["width"] <= filters["x"]
    screenshot(page, "profile-list-filters.png")


def test_failover_order_is_edited_in_the_list(open_page, live_server, admin, js):
    main, backup = two_profiles()
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    row = page.locator("#result_list tbody tr", has_text="Backup")
    row.locator("input[name$='-priority']").fill("5")
    page.locator("#changelist-form input[name='_save']").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    backup.refresh_from_db()
    main.refresh_from_db()
    assert (backup.priority, main.priority) == (5, 10)


def test_enable_and_disable_from_the_list(open_page, live_server, admin, js):
    main, backup = two_profiles()
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    page.locator("#result_list tbody tr", has_text="Backup").locator("input.action-select").check()
    page.locator("select[name='action']").select_option("enable")
    page.locator("button[name='index']").click()
    expect(page.locator(".messagelist")).to_contain_text("1 profile enabled.")
    expect(page.locator(".messagelist")).to_contain_text("“Backup” has never been tested.")
    backup.refresh_from_db()
    assert backup.enabled


def test_failing_mail_is_on_the_index_and_the_list(open_page, live_server, admin):
    main, _ = two_profiles()
    DeliveryLog.objects.create(
        profile_name=main.name,
        tried=[{"profile": main.name, "server": main.server, "step": "auth", "error": "535"}],
        outcome=DeliveryOutcome.FAILED,
        reply="The server refused the user name or password.",
    )
    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + INDEX_URL)
    status = page.locator("#smtpconfig-mail-status")
    expect(status).to_contain_text("The site's mail is failing")
    expect(status).to_contain_text("2 sent, 1 failed; last failure")
    screenshot(page, "admin-index-mail-status.png")
    status.get_by_role("link", name="See the delivery log").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.goto(live_server.url + LIST_URL)
    expect(page.locator(".messagelist")).to_contain_text("The site's mail is failing")


@pytest.mark.parametrize("start", [INDEX_URL, LIST_URL])
def test_first_run_guide_leads_into_a_filled_in_form(open_page, live_server, admin, js, start):
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + start)
    guide = page.locator("#smtpconfig-first-run")
    expect(guide).to_contain_text("Choose your provider")
    if start == INDEX_URL and js:
        screenshot(page, "first-run-guide.png")
    guide.get_by_role("link", name="Gmail / Google Workspace", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(ADD_URL) + r"\?preset=gmail&"))
    expect(page.locator("#id_host")).to_have_value("smtp.gmail.com")
    expect(page.locator("#id_port")).to_have_value("465")
    expect(page.locator("#id_preset")).to_have_value("gmail")


def test_first_run_guide_detects_from_an_address(open_page, live_server, admin, js):
    page = open_page(js=js, viewport=PHONE)
    sign_in(page, live_server)
    page.goto(live_server.url + LIST_URL)
    assert horizontal_overflow(page) <= 0
    page.locator("#smtpconfig-first-run-address").fill("someone@gmail.com")
    page.locator("#smtpconfig-first-run button[type='submit']").click()
    expect(page.locator("#id_from_email")).to_have_value("someone@gmail.com")
    expect(page.locator("body")).to_contain_text("smtp.gmail.com")


def test_first_run_guide_is_gone_once_a_profile_exists(open_page, live_server, admin):
    profile("Main", is_default=True)
    page = open_page()
    sign_in(page, live_server)
    for url in (INDEX_URL, LIST_URL):
        page.goto(live_server.url + url)
        expect(page.locator("#smtpconfig-first-run")).to_have_count(0)
