"""The network policy: every outgoing connection, in every form an address can take."""

import pytest

from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, _fetch_certificate, run_probe

from .dnsd import Zone, running_dns_server
from .smtpd import PLAIN_REPLIES, running_smtp_server, scripted_server

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
    with scripted_server(b"220 scripted.test ESMTP\r\n", STARTTLS_REPLIES) as server:
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
