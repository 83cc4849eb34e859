"""The test report's step table and the delivery log, measured in Chromium at 1280 and 390
px, in English and Russian (issue 13, items 13 and 14).

A real test against aiosmtpd on 127.0.0.1 fills the report (one that passes, one that fails
at the connection); the tests then measure the rendered table with bounding boxes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from smtpconfig.models import DeliveryLog
from smtpconfig.tester import record_outcome, run_test

from .browser import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    change_url,
    screenshot,
    sign_in,
    skip_without_chromium,
)
from .smtpd import free_port

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

LOCALES = {"en": "en-US", "ru": "ru-RU"}


def profile_with_report(make_profile, port: int, name: str = "Main"):
    profile = make_profile(name=name, port=port, test_recipient="check@example.org")
    assert record_outcome(profile, run_test(profile.connection_settings(), "check@example.org"))
    return profile


def open_report(open_page, live_server, profile, *, viewport, language):
    page = open_page(viewport=viewport, locale=LOCALES[language])
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    page.locator("details.smtpconfig-last-report > summary").click()
    table = page.locator("table.smtpconfig-steps")
    expect(table).to_be_visible()
    return page, table


# Each cell's text as line boxes: more than one distinct top means the text wrapped.
LINES = """(cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const tops = new Set();
  for (const rect of range.getClientRects()) {
    if (rect.width > 0 && rect.height > 0) tops.add(Math.round(rect.top + rect.height / 2));
  }
  const merged = [...tops].sort((a, b) => a - b)
    .filter((top, i, all) => i === 0 || top - all[i - 1] > 4);
  return merged.length;
}"""


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("outcome", ["passed", "failed"])
def test_step_table_keeps_names_results_and_times_on_one_line_at_1280(
    open_page, live_server, admin, plain_server, make_profile, language, outcome
):
    port = plain_server.port if outcome == "passed" else free_port()
    page, table = open_report(
        open_page,
        live_server,
        profile_with_report(make_profile, port),
        viewport=DESKTOP,
        language=language,
    )
    rows = table.locator("tbody tr")
    assert rows.count() >= 2
    # By position, not by class: the step, its result and its time.
    cells = table.locator(
        "tbody tr > :nth-child(1), tbody tr > :nth-child(2), tbody tr > :nth-child(3)"
    ).all()
    assert len(cells) == 3 * rows.count()
    for cell in cells:
        assert cell.evaluate(LINES) == 1, cell.inner_text()
    with translation.override(language):
        unit = gettext("%(ms)s ms") % {"ms": ""}
    for time in table.locator("tbody tr > :nth-child(3)").all():
        assert time.inner_text().strip().endswith(unit.strip())
    # The detail column gets the room the others do not need.
    detail = table.locator("thead th").nth(3).bounding_box()
    assert detail["width"] > table.bounding_box()["width"] * 0.4
    screenshot(page, f"report-table-{outcome}-{language}-1280.png", full_page=True)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_step_table_is_labelled_cards_at_390(
    open_page, live_server, admin, plain_server, make_profile, language
):
    page, table = open_report(
        open_page,
        live_server,
        profile_with_report(make_profile, plain_server.port),
        viewport=PHONE,
        language=language,
    )
    with translation.override(language):
        labels = [gettext("Result"), gettext("Time"), gettext("Detail")]
    row = table.locator("tbody tr").first
    cells = row.locator("td")
    assert cells.count() == 3
    for cell, label in zip(cells.all(), labels, strict=True):
        shown = cell.evaluate("(c) => getComputedStyle(c, '::before').content")
        assert shown == f'"{label}"'
        # The label and its value side by side: a short row of the card, not two.
        assert cell.evaluate(LINES) == 1 or label == labels[-1], cell.inner_text()
    # Nothing sticks out of the phone's width, and the step's name heads its card.
    width = page.evaluate("() => document.documentElement.clientWidth")
    for cell in table.locator("tbody tr > *").all():
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, cell.inner_text()
    name, first = row.locator("th").bounding_box(), cells.first.bounding_box()
    assert name["y"] < first["y"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    table.screenshot(path=SCREENSHOTS / f"report-table-{language}-390.png", animations="disabled")


# The delivery log.


@pytest.fixture
def log_entries(make_profile):
    profile = make_profile(name="Main")
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    DeliveryLog.objects.create(
        created_at=when,
        outcome="sent",
        profile=profile,
        profile_name="Main",
        sender="Example Site <noreply@example.com>",
        recipients="alice@example.org",
        subject="Password reset on 127.0.0.1:8000",
        reply="250 2.0.0 Ok: queued as 4FA2B3C4D5",
        duration=0.06674000199996044,
    )
    return DeliveryLog.objects.create(
        created_at=when,
        outcome="failed",
        profile=profile,
        profile_name="Main",
        sender="Example Site <noreply@example.com>",
        recipients="bob@example.org",
        subject="Password reset on 127.0.0.1:8000",
        reply="The domain smtp.example.invalid does not exist in DNS.",
        duration=1.234,
        tried=[
            {
                "profile": "Main",
                "server": "smtp.example.invalid:587",
                "step": "resolve",
                "error": "The domain smtp.example.invalid does not exist in DNS.",
            }
        ],
    )


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_delivery_log_list_shows_every_column_and_counts_in_words(
    open_page, live_server, admin, log_entries, language, viewport
):
    page = open_page(viewport=viewport, locale=LOCALES[language])
    sign_in(page, live_server)
    page.goto(live_server.url + reverse("admin:smtpconfig_deliverylog_changelist"))
    table = page.locator("#result_list")
    expect(table).to_be_visible()
    with translation.override(language):
        expect(page.locator(".paginator")).to_contain_text(
            {"en": "2 delivery log entries", "ru": "2 записи журнала отправки"}[language]
        )
    expect(table).to_contain_text("2026-03-04 05:06:07 UTC")
    expect(table).to_contain_text("67 ms" if language == "en" else "67 мс")
    # The last column is inside the page (or reachable in the table's own scroller), not cut.
    last = table.locator("thead th").last
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert box["x"] + box["width"] <= width + 1
    if viewport == DESKTOP:
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
    screenshot(page, f"delivery-log-{language}-{viewport['width']}.png", full_page=True)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_delivery_log_entry_reads_well(
    open_page, live_server, admin, log_entries, language, viewport
):
    page = open_page(viewport=viewport, locale=LOCALES[language])
    sign_in(page, live_server)
    url = reverse("admin:smtpconfig_deliverylog_change", args=[log_entries.pk])
    page.goto(live_server.url + url)
    content = page.locator("#content")
    expect(content).to_contain_text("2026-03-04 05:06:07 UTC")
    expect(content).to_contain_text("1.2 s" if language == "en" else "1,2 с")
    expect(content.locator(f'a[href$="{change_url(log_entries.profile)}"]')).to_have_text("Main")
    text = content.inner_text()
    assert "1.234" not in text and "webmaster@localhost" not in text
    with translation.override(language):
        assert gettext("profile name").capitalize() not in text
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
    screenshot(page, f"delivery-log-entry-{language}-{viewport['width']}.png", full_page=True)
