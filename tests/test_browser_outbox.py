"""The outbox list in a real browser: the no-worker banner, each state's badge, and
cancelling a waiting message from the list (issue 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from smtpconfig.models import OutboxMessage, OutboxState, Security, SMTPProfile
from smtpconfig.outbox import store

from .browser import screenshot, sign_in, skip_without_chromium

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

OUTBOX_URL = reverse("admin:smtpconfig_outboxmessage_changelist")


def queue(subject: str, to: str, **fields) -> OutboxMessage:
    body = "Follow https://example.com/reset/MQ/secret-token/ to choose a new password."
    [key] = store.enqueue([EmailMessage(subject, body, "noreply@example.com", [to])])
    OutboxMessage.objects.filter(pk=key).update(**fields)
    return OutboxMessage.objects.get(pk=key)


def test_outbox_list_says_no_worker_runs_and_cancels_a_waiting_message(
    open_page, live_server, admin
):
    main = SMTPProfile.objects.create(
        name="Main", host="127.0.0.1", port=25, security=Security.NONE, is_default=True
    )
    now = timezone.now()
    queue("Password reset", "ann@example.org", next_attempt_at=now - timedelta(minutes=10))
    queue("Welcome", "bob@example.org", next_attempt_at=now - timedelta(minutes=9))
    queue(
        "Invoice 1042",
        "billing@example.net",
        state=OutboxState.DEFERRED,
        attempts=2,
        profile=main,
        profile_name="Main",
        next_attempt_at=now + timedelta(minutes=3),
        last_step="connect",
        last_error="The server did not answer on port 25: connection refused.",
    )
    queue(
        "Order shipped",
        "carol@example.org",
        state=OutboxState.FAILED,
        attempts=1,
        profile=main,
        profile_name="Main",
        last_step="rcpt",
        last_error="The server refused the recipient: 550 5.1.1 No such user.",
    )
    queue(
        "Newsletter",
        "dan@example.org",
        state=OutboxState.UNKNOWN,
        attempts=1,
        profile=main,
        profile_name="Main",
        last_step="data",
        last_error="The connection broke after the message was sent: the server may have it.",
    )
    queue("Receipt", "eve@example.org", state=OutboxState.SENT, attempts=1, profile=main)

    page = open_page()
    sign_in(page, live_server)
    page.goto(live_server.url + OUTBOX_URL)
    banner = page.locator(".messagelist .warning")
    expect(banner).to_contain_text("2 messages have waited 10 minutes")
    expect(banner).to_contain_text("python manage.py db_worker")
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    expect(page.locator(".smtpconfig-state-unknown")).to_have_text("unknown")
    expect(page.locator("body")).not_to_contain_text("secret-token")
    screenshot(page, "outbox.png")

    page.locator("#result_list tbody tr", has_text="Welcome").locator("input.action-select").check()
    page.locator("select[name='action']").select_option("cancel")
    page.locator("button[name='index']").click()
    expect(page.locator(".messagelist")).to_contain_text("1 message cancelled")
    expect(page.locator(".messagelist .warning")).to_contain_text("1 message has waited 10")
    assert OutboxMessage.objects.get(subject="Welcome").state == OutboxState.CANCELLED
