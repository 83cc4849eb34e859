"""Discovery and sender-domain health against a real DNS server on 127.0.0.1."""

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command

from smtpconfig.providers.discovery import discover
from smtpconfig.providers.domain_health import OK, UNKNOWN, WARNING, check_sender_domain
from smtpconfig.providers.presets import PRESETS, Preset, preset_for_mx
from smtpconfig.transport.resolver import parse_nameserver

from .dnsd import Zone, running_dns_server

ZONE = Zone(
    {
        ("workspace.test", "MX"): ["1 smtp.google.com."],
        ("tenant.test", "MX"): ["0 tenant-test.mail.protection.outlook.com."],
        ("zoho-eu.test", "MX"): ["10 mx.zoho.eu."],
        ("srv.test", "MX"): ["10 mx.srv.test."],
        ("_submissions._tcp.srv.test", "SRV"): ["0 1 465 mail.srv.test."],
        ("_submission._tcp.srv.test", "SRV"): ["0 1 587 mail.srv.test."],
        ("nosubmission.test", "MX"): ["10 mx.nosubmission.test."],
        ("_submission._tcp.nosubmission.test", "SRV"): ["0 0 0 ."],
        ("guess.test", "MX"): ["10 mx.guess.test."],
        ("smtp.guess.test", "A"): ["127.0.0.1"],
        ("good.test", "MX"): ["10 smtp.google.com."],
        ("good.test", "TXT"): ['"v=spf1 include:_spf.google.com ~all"'],
        ("_dmarc.good.test", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:d@good.test"'],
        ("bare.test", "MX"): ["10 mx.bare.test."],
        ("bare.test", "TXT"): ['"google-site-verification=abc"'],
        ("wrongspf.test", "MX"): ["10 mx.wrongspf.test."],
        ("wrongspf.test", "TXT"): ['"v=spf1 mx " "-all"'],
        ("_dmarc.wrongspf.test", "TXT"): ['"v=DMARC1; p=none"'],
        ("own.test", "MX"): ["10 mx.own.test."],
        ("own.test", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 -all"'],
        ("mail.own.test", "A"): ["192.0.2.25"],
        ("nomx.test", "TXT"): ['"v=spf1 -all"'],
    },
    silent=("slow.test",),
)


@pytest.fixture(scope="module")
def dns_server():
    with running_dns_server(ZONE) as address:
        yield address


@pytest.fixture
def use_dns(settings, dns_server):
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "DNS_NAMESERVERS": [dns_server],
        "DNS_TIMEOUT": 1.0,
    }
    return dns_server


def best(result):
    first = result.candidates[0]
    return first.host, first.port, first.security, first.source


def test_every_preset_is_consistent():
    keys = [preset.key for preset in PRESETS]
    assert len(keys) == len(set(keys))
    for preset in PRESETS:
        assert isinstance(preset, Preset)
        assert preset.login_note, preset.key
        if preset.key == "other":
            continue
        assert preset.host and preset.help_url.startswith("https://"), preset.key
        assert (preset.port, preset.security) in {(465, "ssl"), (587, "starttls")}, preset.key
        if preset.alternative_port:
            assert (preset.alternative_port, preset.alternative_security) in {
                (465, "ssl"),
                (587, "starttls"),
            }
            assert preset.alternative_port != preset.port
        for _label, host in preset.regions:
            assert "." in host and " " not in host
        assert preset.host in {host for _label, host in preset.regions} or not preset.regions


def test_required_providers_are_all_there():
    keys = {preset.key for preset in PRESETS}
    assert {
        "gmail",
        "outlook",
        "microsoft365",
        "yahoo",
        "aol",
        "icloud",
        "zoho",
        "fastmail",
        "sendgrid",
        "mailgun",
        "ses",
        "postmark",
        "brevo",
        "mailjet",
        "other",
    } <= keys


def test_mx_matching_prefers_the_longest_suffix():
    assert preset_for_mx("tenant.mail.protection.outlook.com").key == "microsoft365"
    assert preset_for_mx("hotmail-com.olc.protection.outlook.com").key == "outlook"
    assert preset_for_mx("ASPMX.L.GOOGLE.COM.").key == "gmail"
    assert preset_for_mx("mx.example.org") is None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_nameserver_entries_may_carry_a_port(entry, expected):
    assert parse_nameserver(entry) == expected


def test_known_provider_domain_needs_no_dns(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": []}
    result = discover("someone@gmail.com")
    assert best(result) == ("smtp.gmail.com", 465, "ssl", "preset")
    assert result.candidates[0].username == "someone@gmail.com"
    assert result.candidates[1].port == 587


def test_google_workspace_by_mx(use_dns):
    result = discover("ceo@workspace.test")
    assert best(result) == ("smtp.gmail.com", 465, "ssl", "mx")
    assert "smtp.google.com" in result.candidates[0].explanation


def test_microsoft_365_by_mx(use_dns):
    result = discover("team@tenant.test")
    assert best(result) == ("smtp.office365.com", 587, "starttls", "mx")


def test_zoho_by_mx(use_dns):
    assert discover("a@zoho-eu.test").candidates[0].preset == "zoho"


def test_srv_records_implicit_tls_first(use_dns):
    result = discover("user@srv.test")
    assert [(c.host, c.port, c.security, c.source) for c in result.candidates[:2]] == [
        ("mail.srv.test", 465, "ssl", "srv"),
        ("mail.srv.test", 587, "starttls", "srv"),
    ]


def test_srv_dot_target_means_no_service(use_dns, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DISCOVERY_PORTS": []}
    result = discover("user@nosubmission.test")
    assert result.candidates == [] and not result.found
    assert "Ask your mail provider" in result.notes[-1]


def test_guess_is_kept_only_where_a_server_greets(use_dns, settings, plain_server):
    from .smtpd import free_port

    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "DISCOVERY_PORTS": [plain_server.port, free_port()],
    }
    result = discover("me@guess.test")
    assert [(c.host, c.port, c.source) for c in result.candidates] == [
        ("smtp.guess.test", plain_server.port, "guess")
    ]
    assert result.candidates[0].confidence == "low"


def test_a_guess_in_a_blocked_network_is_never_contacted(use_dns, settings):
    """smtp.<domain> resolving into a blocked network: no connection, no candidate."""
    from .smtpd import PLAIN_REPLIES, scripted_server

    with scripted_server(b"220 smtp.guess.test ESMTP\r\n", PLAIN_REPLIES) as server:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DISCOVERY_PORTS": [server.port]}
        # Not blocked, the guess is confirmed: a server does greet there.
        assert [c.host for c in discover("me@guess.test").candidates] == ["smtp.guess.test"]
        assert len(server.connections) == 1

        settings.SMTPCONFIG = {
            **settings.SMTPCONFIG,
            "BLOCKED_NETWORKS": ["127.0.0.0/8", "::1/128"],
        }
        result = discover("me@guess.test")
        assert result.candidates == []
        assert len(server.connections) == 1


def test_domain_that_does_not_exist(use_dns):
    result = discover("x@missing.test")
    assert result.candidates == [] and result.dns_status == "ok"
    assert "The domain missing.test does not exist in DNS" in result.notes[0]
    assert not any("could not be reached" in note for note in result.notes)


def test_silent_dns_is_reported_within_three_seconds(use_dns):
    started = time.monotonic()
    result = discover("x@slow.test")
    assert time.monotonic() - started < 3
    assert result.dns_answered is False and result.dns_status == "unreachable"
    assert "DNS could not be reached, so nothing could be checked" in result.notes[0]
    assert "does not exist" not in " ".join(result.notes)


def test_silent_dns_still_offers_a_known_provider(settings):
    with running_dns_server(Zone({}, silent=("yahoo.com",))) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        started = time.monotonic()
        result = discover("x@yahoo.com")
        assert time.monotonic() - started < 3
    assert best(result) == ("smtp.mail.yahoo.com", 465, "ssl", "preset")
    # Known from the preset, not confirmed: "known provider", never "sure".
    assert {c.confidence for c in result.candidates} == {"known"}
    assert result.notes == ["DNS could not be reached, so nothing could be checked."]


def test_dns_that_denies_a_known_providers_domain_is_not_believed(settings):
    """An offline resolver answering NXDOMAIN for every name: gmail.com does exist."""
    with running_dns_server(Zone({})) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        result = discover("someone@gmail.com")
        health = check_sender_domain("someone@gmail.com", "smtp.gmail.com", use_cache=False)
    assert best(result) == ("smtp.gmail.com", 465, "ssl", "preset")
    assert result.dns_status == "unreliable"
    assert {c.confidence for c in result.candidates} == {"known"}
    text = " ".join(result.notes)
    assert "does not exist in DNS" not in text
    assert "nothing could be checked" in text
    assert [(f.status, "gives no real answers" in f.message) for f in health] == [(UNKNOWN, True)]


def test_a_known_provider_confirmed_by_dns_is_sure(settings):
    zone = Zone({("gmail.com", "MX"): ["5 gmail-smtp-in.l.google.com."]})
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        result = discover("someone@gmail.com")
    assert result.dns_status == "ok" and result.notes == []
    assert {c.confidence for c in result.candidates} == {"high"}


def test_not_an_address():
    assert "full email address" in discover("no-at-sign").notes[0]


def findings(from_email, host):
    return {f.check: f for f in check_sender_domain(from_email, host, use_cache=False)}


def test_healthy_domain(use_dns):
    result = findings("news@good.test", "smtp.gmail.com")
    assert {check: f.status for check, f in result.items()} == {
        "mx": OK,
        "spf": OK,
        "dmarc": OK,
    }
    assert "reject" in result["dmarc"].message


def test_missing_spf_and_dmarc_say_what_to_add(use_dns):
    result = findings("news@bare.test", "smtp.sendgrid.net")
    assert result["spf"].status == WARNING
    assert "v=spf1 include:sendgrid.net ~all" in result["spf"].fix
    assert result["dmarc"].status == WARNING
    assert "_dmarc.bare.test" in result["dmarc"].fix


def test_spf_that_does_not_include_the_provider(use_dns):
    result = findings("news@wrongspf.test", "smtp.office365.com")
    assert result["spf"].status == WARNING
    assert "include:spf.protection.outlook.com" in result["spf"].fix
    assert "p=none" not in result["dmarc"].message and "none" in result["dmarc"].message


def test_own_server_covered_by_ip4(use_dns):
    assert findings("a@own.test", "mail.own.test")["spf"].status == OK


def test_domain_without_mx(use_dns):
    assert findings("a@nomx.test", "smtp.example.org")["mx"].status == WARNING


def test_domain_health_when_dns_is_silent(use_dns):
    result = check_sender_domain("a@slow.test", "smtp.gmail.com", use_cache=False)
    assert [f.status for f in result] == [UNKNOWN]


@pytest.mark.django_db
def test_smtp_discover_command(use_dns):
    out = StringIO()
    call_command("smtp_discover", "team@tenant.test", stdout=out)
    assert "smtp.office365.com" in out.getvalue() and "587" in out.getvalue()
    out = StringIO()
    call_command("smtp_discover", "team@tenant.test", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["candidates"][0]["host"] == "smtp.office365.com"
