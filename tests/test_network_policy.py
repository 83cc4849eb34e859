"""The network policy: every outgoing connection, in every form an address can take."""

from contextlib import contextmanager

import pytest
from django.core import mail

from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, run_probe
from smtpconfig.probe.conversation import _fetch_certificate
from smtpconfig.transport.policy import BlockedAddress, check_address

from .dnsd import Zone, running_dns_server
from .smtpd import PLAIN_REPLIES, running_smtp_server, scripted_server

GREETING = b"220 scripted.test ESMTP\r\n"
# Connected to by the tests, never bound to.
ANY_IPV4 = "0.0.0.0"  # noqa: S104
STARTTLS_REPLIES = {**PLAIN_REPLIES, b"EHLO": b"250-scripted.test\r\n250 STARTTLS\r\n"}


@pytest.fixture
def loopback_blocked(settings):
    """Loopback in the blocked networks, as an operator would block an internal range."""
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "BLOCKED_NETWORKS": ["169.254.0.0/16", "127.0.0.0/8", "::1/128"],
    }


# The certificate re-read after a failed verification


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_certificate_re_read_does_not_connect_to_a_blocked_address(loopback_blocked, security):
    with scripted_server(GREETING, STARTTLS_REPLIES) as server:
        settings = ProbeSettings(host="127.0.0.1", port=server.port, security=security, timeout=2)
        assert _fetch_certificate(settings) == {}
    assert server.connections == []


def test_certificate_re_read_goes_to_the_address_the_probe_resolved(settings, test_ca, ca_pem):
    """A name only the configured nameservers know: the re-read still finds the server."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("mail.other.test").configure_cert(context)
    zone = Zone({("smtp.only-in-dns.test", "A"): ["127.0.0.1"]})
    with running_dns_server(zone) as dns, running_smtp_server(starttls_context=context) as server:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [dns]}
        report = run_probe(
            ProbeSettings(
                host="smtp.only-in-dns.test",
                port=server.port,
                security=Security.STARTTLS,
                ca_certificate=ca_pem,
                from_email="a@example.com",
                timeout=3,
            ),
            "x@example.org",
        )
    assert report.diagnosis.code == "certificate_name_mismatch"
    assert report.certificate["names"] == ["mail.other.test"]


# Every form of an address


@pytest.fixture
def blocked(settings):
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "BLOCKED_NETWORKS": ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "10.0.0.0/8"],
    }


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "::a9fe:a9fe",
        "::ffff:0:127.0.0.1",  # IPv4-translated
        "64:ff9b::127.0.0.1",  # NAT64
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",  # 6to4
        "2002:a9fe:a9fe::",
        "2001:0:c000:201:0:0:f5fe:fdfc",  # Teredo, client 10.1.2.3
        "2001:0:a9fe:a9fe::",  # Teredo, server 169.254.169.254
        ANY_IPV4,  # unspecified: the machine itself
        "0.1.2.3",
        "::",
        "::ffff:0.0.0.0",
        "64:ff9b::",
    ],
)
def test_every_form_of_a_blocked_address_is_refused(blocked, address):
    with pytest.raises(BlockedAddress, match="not allowed"):
        check_address("mail.example.test", address)


@pytest.mark.parametrize(
    "address",
    [
        "192.0.2.25",
        "2001:db8::25",
        "::ffff:192.0.2.25",
        "64:ff9b::192.0.2.25",
        "2002:c000:219::1",
        "2001:0:c000:201:0:0:3fff:fde6",  # Teredo, client 192.0.2.25
    ],
)
def test_addresses_outside_the_blocked_networks_in_any_form_are_allowed(blocked, address):
    check_address("mail.example.test", address)


def test_the_refusal_names_the_address_reached(blocked):
    with pytest.raises(BlockedAddress) as excinfo:
        check_address("0", ANY_IPV4)
    assert ANY_IPV4 in str(excinfo.value) and "reaches 127.0.0.1" in str(excinfo.value)
    assert "127.0.0.0/8" in str(excinfo.value)


def test_allowed_hosts_still_exempt_every_form(blocked, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ALLOWED_HOSTS": ["relay.internal"]}
    check_address("relay.internal", "::ffff:127.0.0.1")


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fe80::1%1",
        "fd00:ec2::254",  # AWS, IPv6
        "100.100.100.200",  # Alibaba Cloud
        "::ffff:169.254.169.254",
        "64:ff9b::100.100.100.200",
        "2002:a9fe:a9fe::",
    ],
)
def test_cloud_metadata_addresses_are_refused_by_default(address):
    with pytest.raises(BlockedAddress):
        check_address("metadata.example.test", address)


@pytest.mark.parametrize("address", ["192.0.2.25", "100.100.100.201", "fd00:ec2::253"])
def test_the_defaults_allow_ordinary_addresses(address):
    check_address("mail.example.test", address)


# Real connections to the machine itself through the unspecified address


@contextmanager
def loopback_listeners():
    """Counting listeners on 127.0.0.1 and ::1 at one port: where 0.0.0.0 and :: lead."""
    with (
        scripted_server(GREETING, PLAIN_REPLIES) as ipv4,
        scripted_server(GREETING, PLAIN_REPLIES, host="::1", port=ipv4.port) as ipv6,
    ):
        yield ipv4.port, ipv4.connections, ipv6.connections


@pytest.mark.parametrize("host", [ANY_IPV4, "0", "::", "[::]", "::ffff:0.0.0.0"])
def test_the_probe_does_not_reach_loopback_through_the_unspecified_address(
    loopback_blocked, settings, host
):
    # The system's resolver, which reads "0" as 0.0.0.0 (a number, no DNS query).
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": []}
    with loopback_listeners() as (port, ipv4, ipv6):
        report = run_probe(
            ProbeSettings(host=host, port=port, security=Security.NONE, timeout=2),
            "x@example.org",
        )
    assert report.failed_step.name == "connect"
    assert report.diagnosis.code == "address_blocked"
    assert ipv4 == [] and ipv6 == []


@pytest.mark.django_db
@pytest.mark.parametrize("host", [ANY_IPV4, "0", "::", "::ffff:0.0.0.0"])
def test_the_backend_does_not_reach_loopback_through_the_unspecified_address(
    use_backend, loopback_blocked, settings, make_profile, host
):
    # The backend resolves like the probe: the system's resolver reads "0" as 0.0.0.0.
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": []}
    with loopback_listeners() as (port, ipv4, ipv6):
        make_profile(host=host, port=port)
        with pytest.raises(ConnectionRefusedError, match="not allowed"):
            mail.send_mail("Hi", "Body", None, ["x@example.org"])
    assert ipv4 == [] and ipv6 == []


def test_the_listeners_do_count_a_connection_to_the_unspecified_address(settings):
    """Without the block the same probe does reach them, so the tests above test something."""
    with loopback_listeners() as (port, ipv4, ipv6):
        for host in (ANY_IPV4, "::"):
            report = run_probe(
                ProbeSettings(host=host, port=port, security=Security.NONE, timeout=2),
                "x@example.org",
                send=False,
            )
            assert report.failed_step is None or report.failed_step.name != "connect"
    assert len(ipv4) == 1 and len(ipv6) == 1
