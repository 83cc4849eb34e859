"""In the browser, JavaScript on and off: the diagnosis and "Detect settings" say what is true.

A refused login is explained by the chosen provider's rule (SendGrid: ``apikey`` and an
API key), a certificate for another server is not offered as the server name, and
"Detect settings" never says "found" and "nothing found" together, nor that a domain
does not exist when DNS gives no real answers. Every server is on 127.0.0.1:
aiosmtpd (tests/smtpd.py), trustme certificates and tests/dnsd.py.
"""

from __future__ import annotations

import ssl

import pytest
from playwright.sync_api import expect

from .browser import ADD_URL, sign_in, skip_without_chromium
from .dnsd import Zone, running_dns_server
from .smtpd import running_smtp_server

skip_without_chromium()

pytestmark = pytest.mark.django_db(transaction=True)


def add_page(open_page, live_server, js):
    page = open_page(js=js)
    sign_in(page, live_server)
    page.goto(live_server.url + ADD_URL)
    page.locator("#id_name").fill("Main")
    page.locator("#id_from_email").fill("noreply@example.com")
    return page


def send_test(page):
    page.locator("#id_test_to").fill("check@example.org")
    page.locator('input[name="_check_connection"]').click()
    report = page.locator("#smtpconfig-report")
    expect(report.locator("h2")).to_contain_text("The test failed")
    return report


# Item 9: the provider's own login rule.


def test_sendgrid_login_refused_names_the_api_key_not_the_email_address(
    js, open_page, live_server, admin
):
    refusal = "535 5.7.8 Error: authentication failed: authentication failure"
    with running_smtp_server(users={}, auth_failure_reply=refusal) as server:
        page = add_page(open_page, live_server, js)
        page.locator("#id_preset").select_option("sendgrid")
        if not js:
            # Without JavaScript the preset fills the form on the server, at the next post.
            page.locator("#id_username").fill("apikey")
        expect(page.locator("#id_username")).to_have_value("apikey")
        # Tried against a local relay first: the host is not SendGrid's, the preset still is.
        page.locator("#id_host").fill("127.0.0.1")
        page.locator("#id_port").fill(str(server.port))
        page.locator("#id_security").select_option("none")
        page.locator("#id_allow_plaintext_auth").check()
        page.locator("#id_password").fill("SG.not-a-real-key")
        report = send_test(page)
    expect(report).to_contain_text("The user name “apikey” is right")
    expect(report).to_contain_text("Mail Send")
    expect(report).not_to_contain_text("full email address")


# Item 10: a certificate for another server.


@pytest.fixture
def alias_dns(settings):
    zone = Zone({("smtp.alias.test", "A"): ["127.0.0.1"], ("mail.real.test", "A"): ["127.0.0.1"]})
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


@pytest.mark.parametrize(
    ("name", "suggested"), [("wrong.example", False), ("mail.real.test", True)]
)
def test_a_certificate_name_is_suggested_only_when_it_is_this_server(
    js, open_page, live_server, admin, alias_dns, test_ca, ca_pem, name, suggested
):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert(name).configure_cert(context)
    with running_smtp_server(implicit_tls_context=context) as server:
        page = add_page(open_page, live_server, js)
        page.locator("#id_host").fill("smtp.alias.test")
        page.locator("#id_port").fill(str(server.port))
        page.locator("#id_security").select_option("ssl")
        page.locator("#id_ca_certificate").fill(ca_pem)
        report = send_test(page)
    expect(report).to_contain_text(f"It names: {name}.")
    if suggested:
        expect(report).to_contain_text("suggested: mail.real.test")
    else:
        expect(report).to_contain_text("the certificate does not belong to this server")
        expect(report).to_contain_text("Do not switch to a name from this certificate")
        expect(report).not_to_contain_text("suggested")


# Item 11: "Detect settings" that does not contradict itself.


def detect(page, address):
    page.locator("#id_from_email").fill(address)
    page.locator('button[name="_detect"]').click()
    discovery = page.locator("#smtpconfig-discovery")
    expect(discovery.locator("h2")).to_be_visible()
    return discovery


def test_detect_with_dns_denying_everything_offers_the_known_provider(
    js, open_page, live_server, admin
):
    """The tests' own DNS answers NXDOMAIN for every name, like an offline resolver."""
    page = add_page(open_page, live_server, js)
    discovery = detect(page, "someone@gmail.com")
    expect(discovery.locator("h2")).to_have_text("Settings found for someone@gmail.com")
    expect(discovery.locator("tbody th").first).to_have_text("smtp.gmail.com:465")
    expect(discovery).to_contain_text("(known provider)")
    expect(discovery).to_contain_text("so nothing could be checked")
    expect(discovery).not_to_contain_text("(sure)")
    expect(discovery).not_to_contain_text("does not exist in DNS")
    expect(discovery).not_to_contain_text("Nothing was found")


def test_detect_when_dns_cannot_be_reached_says_so(js, open_page, live_server, admin, settings):
    with running_dns_server(Zone({}, silent=("unreachable.test",))) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        page = add_page(open_page, live_server, js)
        discovery = detect(page, "me@unreachable.test")
    expect(discovery.locator("h2")).to_have_text("Nothing was found for me@unreachable.test")
    expect(discovery).to_contain_text("DNS could not be reached, so nothing could be checked.")
    expect(discovery).not_to_contain_text("Settings found")
    expect(discovery).not_to_contain_text("does not exist")


def test_detect_for_a_missing_domain_says_nothing_was_found_once(
    js, open_page, live_server, admin, settings
):
    with running_dns_server(Zone({("real.test", "MX"): ["10 mx.real.test."]})) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        page = add_page(open_page, live_server, js)
        discovery = detect(page, "me@missing.test")
    expect(discovery.locator("h2")).to_have_text("Nothing was found for me@missing.test")
    expect(discovery).to_contain_text("The domain missing.test does not exist in DNS")
    expect(discovery).not_to_contain_text("Settings found")
