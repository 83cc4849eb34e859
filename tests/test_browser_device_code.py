"""End to end in Chromium: "Connect with a code" (the device code flow) on a profile's page.

The provider is a real HTTPS server on 127.0.0.1 (tests/tokend.py): its device endpoint
gives a code with a one-second interval, and its token endpoint says "not yet" until the
test lets it give a token, as the provider does once the person has signed in elsewhere.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from smtpconfig.models import SMTPProfile

from .browser import PHONE, change_url, screenshot, sign_in, skip_without_chromium
from .helpers import make_oauth_profile

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)

DEVICE_CODE = "device-code-never-in-the-page"
USER_CODE = "BQRT-7KXM"
PENDING = (400, {"error": "authorization_pending"})
TOKEN = (200, {"access_token": "at", "expires_in": 3600, "refresh_token": "rt-browser"})


@pytest.fixture
def token_endpoint(token_endpoint):
    token_endpoint.scripted["/device"] = [
        (
            200,
            {
                "device_code": DEVICE_CODE,
                "user_code": USER_CODE,
                "verification_uri": "https://login.example.com/device",
                "expires_in": 900,
                "interval": 1,
            },
        )
    ]
    token_endpoint.scripted["/token"] = [PENDING]  # until the test says the person signed in
    return token_endpoint


@pytest.fixture
def profile(token_endpoint):
    return make_oauth_profile(
        name="Office",
        oauth_token_endpoint=token_endpoint.url,
        oauth_device_authorization_endpoint=token_endpoint.root + "/device",
        oauth_client_secret="",
    )


def token_polls(token_endpoint) -> int:
    return sum(1 for request in token_endpoint.requests if "path" not in request)


def wait_for_polls(token_endpoint, count: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while token_polls(token_endpoint) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return token_polls(token_endpoint)


def open_code_page(page, live_server, profile):
    sign_in(page, live_server)
    page.goto(live_server.url + change_url(profile))
    page.get_by_role("button", name="Connect with a code").click()
    expect(page.locator("#smtpconfig-user-code")).to_have_text(USER_CODE)
    assert DEVICE_CODE not in page.content()


def test_with_javascript_the_page_waits_then_becomes_the_connected_profile(
    open_page, live_server, admin, profile, token_endpoint
):
    page = open_page()
    open_code_page(page, live_server, profile)
    link = page.locator("#smtpconfig-device-uri")
    expect(link).to_have_attribute("href", "https://login.example.com/device")
    expect(link).to_have_attribute("target", "_blank")
    # The page asks by itself, every second, and says it is still waiting.
    assert wait_for_polls(token_endpoint, 2) >= 2
    status = page.get_by_role("status")
    expect(status).to_contain_text("Not signed in yet")
    screenshot(page, "oauth2-device-code.png")

    token_endpoint.scripted["/token"] = [TOKEN]  # the person has signed in
    expect(page).to_have_url(live_server.url + change_url(profile))
    expect(page.locator("ul.messagelist")).to_contain_text("The account is connected")
    stored = SMTPProfile.objects.get(pk=profile.pk)
    assert stored.oauth_refresh_token == "rt-browser" and stored.oauth_connected_at
    expect(page.locator("#smtpconfig-oauth")).to_contain_text("Connected as mailer@example.com")


def test_with_javascript_an_expired_code_offers_to_start_again(
    open_page, live_server, admin, profile, token_endpoint
):
    page = open_page()
    open_code_page(page, live_server, profile)
    token_endpoint.scripted["/token"] = [(400, {"error": "expired_token"})]
    expect(page.get_by_role("status")).to_contain_text("The code expired")
    expect(page.get_by_role("button", name="I have signed in – check now")).to_be_hidden()
    page.get_by_role("button", name="Start again with a new code").click()
    expect(page.locator("#smtpconfig-user-code")).to_have_text(USER_CODE)
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == ""


def test_without_javascript_check_now_asks_once_and_then_connects(
    open_page, live_server, admin, profile, token_endpoint
):
    page = open_page(js=False)
    open_code_page(page, live_server, profile)
    check = page.get_by_role("button", name="I have signed in – check now")
    check.click()
    expect(page.get_by_role("status")).to_contain_text("Not signed in yet")
    assert token_polls(token_endpoint) == 1  # no script: only when asked

    token_endpoint.scripted["/token"] = [TOKEN]
    page.get_by_role("button", name="I have signed in – check now").click()
    expect(page).to_have_url(live_server.url + change_url(profile))
    expect(page.locator("ul.messagelist")).to_contain_text("The account is connected")
    assert SMTPProfile.objects.get(pk=profile.pk).oauth_refresh_token == "rt-browser"


def test_the_code_page_fits_a_phone(open_page, live_server, admin, profile):
    page = open_page(viewport=PHONE)
    open_code_page(page, live_server, profile)
    expect(page.get_by_role("button", name="I have signed in – check now")).to_be_in_viewport()
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    box = page.locator("#smtpconfig-user-code").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
