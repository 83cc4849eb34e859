"""What every browser test uses: Debian's Chromium driven by Playwright, its pages, an
administrator to sign in as, and small helpers.

The fixtures (``browser``, ``open_page``, ``js``, ``admin``) are offered to every test
module by tests/conftest.py; a browser test module starts with
``skip_without_chromium()`` and ``pytestmark = pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from smtpconfig.models import SMTPProfile

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# while it runs would otherwise trip Django's async-safety check.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The live server listens on 127.0.0.1 (not "localhost"), the only host the tests talk to.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = Path("/usr/bin/chromium")


def skip_without_chromium() -> None:
    """Skip the calling test module where Debian's Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Browser tests drive Debian's Chromium at /usr/bin/chromium; install it with "
            "`apt-get install chromium` (no browser is ever downloaded).",
            allow_module_level=True,
        )


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 10_000  # every wait in the page; a navigation may take up to 15 s
expect.set_options(timeout=TIMEOUT_MS)

# A test run writes its screenshots to an ignored folder (the work tree stays as it was);
# `make screenshots` points this at docs/screenshots/ to refresh the README's pictures.
SCREENSHOTS = Path(
    os.environ.get(
        "SMTPCONFIG_SCREENSHOTS",
        Path(__file__).resolve().parent.parent / "var" / "test-screenshots",
    )
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

ADMIN_USERNAME, ADMIN_EMAIL, ADMIN_PASSWORD = "admin", "admin@example.com", "Admin-Pass-123"
ADD_URL = reverse("admin:smtpconfig_smtpprofile_add")
LIST_URL = reverse("admin:smtpconfig_smtpprofile_changelist")


def change_url(profile: SMTPProfile) -> str:
    return reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])


# The browser and its pages.


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=15_000
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """A page in a fresh context (its own cookies); closed after the test."""
    contexts = []

    def open_page(*, js: bool = True, viewport: dict = DESKTOP, locale: str = "en-US"):
        context = browser.new_context(
            java_script_enabled=js,
            viewport=viewport,
            locale=locale,  # the admin follows the browser's language: English unless asked
            timezone_id="UTC",
            reduced_motion="reduce",
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def js(request) -> bool:
    """Run the test with JavaScript on, then off: every button must work both ways."""
    return request.param


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, ADMIN_PASSWORD)


def sign_in(page, live_server, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD):
    """Sign in through the admin's login form (in whatever language the page is in)."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator('#login-form input[type="submit"]').click()
    expect(page.locator("#user-tools")).to_contain_text(username)


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot of the page from its top (the report's focus may have scrolled it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS / name, full_page=full_page, animations="disabled")


def wait_for_messages(server, count: int, timeout: float = 10.0) -> list:
    """What the SMTP server received, once it has ``count`` messages (or the time is up)."""
    deadline = time.monotonic() + timeout
    while len(server.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.messages


def input_values(page) -> list[str]:
    return page.evaluate("() => Array.from(document.querySelectorAll('input'), (i) => i.value)")
