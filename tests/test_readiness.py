"""Profiles that still sign in with a password where Microsoft is switching it off are named
in the admin, by manage.py check and by smtp_test, with a way to switch (issue 12): by their
host, or by their domain's MX records when the host is the domain's own name."""

import time
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from smtpconfig.checks import check_password_sign_in_ending
from smtpconfig.models import SMTPProfile
from smtpconfig.providers.readiness import MX_FAILURE_CACHE_SECONDS, mx_cache_key

from .dnsd import Zone, running_dns_server
from .helpers import LIST_URL, change_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def m365_profile(make_profile):
    return make_profile(
        name="Office", host="smtp.office365.com", port=587, username="a@contoso.com"
    )


def test_the_list_names_a_microsoft_365_profile_with_a_password(admin_client, m365_profile):
    html = admin_client.get(LIST_URL).content.decode()
    assert "end of December 2026" in html and "“Office”" in html
    switch = reverse("admin:smtpconfig_smtpprofile_switch_oauth2", args=[m365_profile.pk])
    assert switch in html


def test_outlook_com_is_named_too_and_others_are_not(admin_client, make_profile):
    make_profile(name="Outlook", host="smtp-mail.outlook.com", port=587, username="a@outlook.com")
    make_profile(name="Relay", host="127.0.0.1", username="u", is_default=False)
    html = admin_client.get(LIST_URL).content.decode()
    assert "September 2024" in html and "“Outlook”" in html
    assert "“Relay” signs in" not in html


def test_switch_to_oauth2_opens_the_profile_with_oauth2_chosen_and_saves_nothing(
    admin_client, m365_profile
):
    url = reverse("admin:smtpconfig_smtpprofile_switch_oauth2", args=[m365_profile.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form["auth_method"].value() == "oauth2"
    assert form["oauth_tenant"].value() == "organizations"
    assert form["name"].value() == "Office" and form["is_default"].value()
    assert f'action="{change_url(m365_profile)}"' in response.content.decode()
    assert SMTPProfile.objects.get(pk=m365_profile.pk).auth_method == "password"


def test_check_w007_and_smtp_test_say_the_same(m365_profile):
    [warning] = check_password_sign_in_ending()
    assert warning.id == "smtpconfig.W007" and "December 2026" in warning.msg
    err = StringIO()
    with pytest.raises(SystemExit):  # the test itself fails: nothing listens on 587 here
        call_command("smtp_test", "--to", "a@b.org", "--no-send", stdout=StringIO(), stderr=err)
    assert "December 2026" in err.getvalue()


def test_an_oauth2_profile_is_not_named(m365_profile):
    SMTPProfile.objects.filter(pk=m365_profile.pk).update(auth_method="oauth2")
    assert check_password_sign_in_ending() == []


# By the domain's MX: a host that is the domain's own name, the domain's mail at Microsoft.

MX_ZONE = {
    ("contoso.test", "MX"): ["0 contoso-test.mail.protection.outlook.com."],
    ("personal.test", "MX"): ["0 personal-test.olc.protection.outlook.com."],
    ("fabrikam.test", "MX"): ["10 mx.fabrikam.test."],
}


@pytest.fixture
def mx_dns(settings):
    """A DNS server on 127.0.0.1 that knows which test domains' mail Microsoft hosts."""
    with running_dns_server(Zone(MX_ZONE)) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


@pytest.fixture
def own_server(make_profile):
    """A profile whose host is its domain's own name, signing in with a password."""

    def make(domain: str, **fields):
        values = {
            "name": "Own",
            "host": f"mail.{domain}",
            "port": 587,
            "username": f"mailer@{domain}",
            "from_email": f"noreply@{domain}",
        }
        return make_profile(**{**values, **fields})

    return make


def test_a_host_of_the_domain_whose_mx_is_microsoft_365_is_named(admin_client, own_server, mx_dns):
    own_server("contoso.test")
    html = admin_client.get(LIST_URL).content.decode()
    assert "“Own” signs in to Microsoft 365" in html and "end of December 2026" in html
    assert "mail.contoso.test belongs to contoso.test" in html
    [warning] = check_password_sign_in_ending()
    assert warning.id == "smtpconfig.W007" and "contoso.test" in warning.msg


def test_an_outlook_com_mx_is_named_as_outlook_com(own_server, mx_dns):
    own_server("personal.test")
    [warning] = check_password_sign_in_ending()
    assert "Outlook.com" in warning.msg and "September 2024" in warning.msg


def test_switching_a_profile_found_by_its_outlook_com_mx_chooses_the_consumers_tenant(
    admin_client, own_server, mx_dns
):
    profile = own_server("personal.test")
    url = reverse("admin:smtpconfig_smtpprofile_switch_oauth2", args=[profile.pk])
    form = admin_client.get(url).context["adminform"].form
    assert form["auth_method"].value() == "oauth2"
    assert form["oauth_tenant"].value() == "consumers"


def test_an_outlook_com_domain_is_named_without_asking_dns(own_server):
    # No zone: the conftest's DNS server answers NXDOMAIN for everything.
    own_server("outlook.com", host="smtp.outlook.com")
    [warning] = check_password_sign_in_ending()
    assert "Outlook.com" in warning.msg


def test_other_mx_hosts_and_other_servers_are_not_named(own_server, mx_dns):
    own_server("fabrikam.test", name="Fabrikam")
    # contoso.test's mail is Microsoft's, but this server is not contoso.test's own.
    own_server("contoso.test", name="Relay", host="relay.example.net", is_default=False)
    own_server("contoso.test", name="Off", enabled=False, is_default=False)
    own_server("contoso.test", name="Token", auth_method="oauth2", is_default=False)
    assert check_password_sign_in_ending() == []


def test_the_verdict_is_cached_per_domain(own_server, settings):
    own_server("contoso.test")
    with running_dns_server(Zone(MX_ZONE)) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        assert len(check_password_sign_in_ending()) == 1
    # The server is gone: the verdict is the cache's (asking would find nothing).
    assert len(check_password_sign_in_ending()) == 1
    expires = cache._expire_info[cache.make_key(mx_cache_key("contoso.test"))]
    assert expires - time.time() > MX_FAILURE_CACHE_SECONDS


def test_a_dns_failure_breaks_nothing_and_is_asked_again_sooner(admin_client, own_server, settings):
    profile = own_server("contoso.test")
    with running_dns_server(Zone({}, silent=("contoso.test",))) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        response = admin_client.get(change_url(profile))
        assert response.status_code == 200
        assert "“Own” signs in" not in response.content.decode()
        expires = cache._expire_info[cache.make_key(mx_cache_key("contoso.test"))]
        assert expires - time.time() <= MX_FAILURE_CACHE_SECONDS
        started = time.monotonic()
        assert check_password_sign_in_ending() == []  # cached: no second wait for DNS
        assert time.monotonic() - started < 0.5


def test_unusable_dns_settings_do_not_break_the_check(own_server, settings):
    own_server("contoso.test")
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": ["not-an-address"]}
    assert check_password_sign_in_ending() == []
