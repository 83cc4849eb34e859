"""A certificate for another name: a name from it is suggested only if it points at the server.

Real servers on 127.0.0.1: aiosmtpd with a certificate from the test CA (trustme) for
names other than the one connected to, and tests/dnsd.py answering, refusing
(NXDOMAIN) or staying silent for those names.
"""

from __future__ import annotations

import ssl
import time

import pytest

from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, run_probe

from .dnsd import Zone, running_dns_server
from .smtpd import running_smtp_server

HOST = "smtp.alias.test"


@pytest.fixture
def dns(settings):
    """The names the tests use: the server's alias, a name of the same server, another's."""
    zone = Zone(
        {
            (HOST, "A"): ["127.0.0.1"],
            ("mail.real.test", "A"): ["127.0.0.1"],
            ("someone-else.test", "A"): ["192.0.2.10"],
            ("smtp.sendgrid.net", "A"): ["127.0.0.1"],
        },
        silent=("silent.test",),
    )
    with running_dns_server(zone) as address:
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DNS_NAMESERVERS": [address]}
        yield address


def probe_with_certificate(test_ca, ca_pem, names, *, security=Security.STARTTLS, host=HOST):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert(*names).configure_cert(context)
    if security == Security.SSL:
        server = running_smtp_server(implicit_tls_context=context)
    else:
        server = running_smtp_server(starttls_context=context)
    with server as smtp:
        report = run_probe(
            ProbeSettings(
                host=host,
                port=smtp.port,
                security=security,
                ca_certificate=ca_pem,
                from_email="noreply@example.com",
                timeout=3,
            ),
            "someone@example.org",
        )
    assert (report.failed_step.name, report.diagnosis.code) == ("tls", "certificate_name_mismatch")
    return report.diagnosis


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_a_name_of_the_same_server_is_suggested(dns, test_ca, ca_pem, security):
    diagnosis = probe_with_certificate(test_ca, ca_pem, ["mail.real.test"], security=security)
    assert diagnosis.suggestion == "mail.real.test"
    assert "mail.real.test points to the same server (127.0.0.1)" in diagnosis.problem


@pytest.mark.parametrize(
    "names",
    [["wrong.example"], ["someone-else.test"], ["wrong.example", "someone-else.test"]],
    ids=["does-not-resolve", "another-server", "both"],
)
def test_a_name_that_is_not_this_server_is_never_suggested(dns, test_ca, ca_pem, names):
    diagnosis = probe_with_certificate(test_ca, ca_pem, names)
    assert diagnosis.suggestion is None
    assert "the certificate does not belong to this server" in diagnosis.problem
    assert "(127.0.0.1)" in diagnosis.problem
    assert "Do not switch to a name from this certificate" in diagnosis.fix
    assert "captive portal" in diagnosis.fix
    assert "as it appears in the certificate" not in diagnosis.fix


def test_only_the_names_that_point_here_are_suggested(dns, test_ca, ca_pem):
    diagnosis = probe_with_certificate(
        test_ca, ca_pem, ["someone-else.test", "wrong.example", "mail.real.test"]
    )
    assert diagnosis.suggestion == "mail.real.test"


def test_a_name_dns_does_not_answer_for_is_not_suggested_within_the_dns_timeout(
    dns, test_ca, ca_pem
):
    started = time.monotonic()
    diagnosis = probe_with_certificate(test_ca, ca_pem, ["mx.silent.test"])
    assert diagnosis.suggestion is None
    # DNS_TIMEOUT is 1 s in the tests; the probe's own steps take milliseconds.
    assert time.monotonic() - started < 2.5


def test_a_providers_host_with_a_strange_certificate_points_at_its_documented_host(
    dns, test_ca, ca_pem
):
    diagnosis = probe_with_certificate(test_ca, ca_pem, ["wrong.example"], host="smtp.sendgrid.net")
    assert diagnosis.suggestion is None
    assert "documented server is smtp.sendgrid.net" in diagnosis.fix
