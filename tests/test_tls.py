"""Certificates a server may present, well-formed or not, against real TLS servers."""

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from django.template.loader import render_to_string

from smtpconfig.models import Security
from smtpconfig.probe import ProbeSettings, run_probe
from smtpconfig.transport.tls import describe_certificate

from .smtpd import running_smtp_server

#: A subjectAltName holding one iPAddress of a single byte (an address has 4 or 16).
MALFORMED_SAN = bytes.fromhex("3003870101")


@pytest.fixture(scope="module")
def malformed_certificate(test_ca, tmp_path_factory):
    """(DER, PEM chain file, key file) of a certificate for localhost, signed by the test CA."""
    ca_key = serialization.load_pem_private_key(test_ca.private_key_pem.bytes(), None)
    ca_certificate = x509.load_pem_x509_certificate(test_ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, MALFORMED_SAN),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("malformed")
    chain, key_file = directory / "chain.pem", directory / "key.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate.public_bytes(serialization.Encoding.DER), chain, key_file


@pytest.fixture
def malformed_context(malformed_certificate):
    _der, chain, key_file = malformed_certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain, key_file)
    return context


def test_a_malformed_subject_alt_name_is_described_as_far_as_it_can_be_read(
    malformed_certificate,
):
    der, _chain, _key = malformed_certificate
    description = describe_certificate(der)
    assert description["subject"] == "localhost"
    assert description["issuer"] and description["not_after"]
    assert description["names"] == []
    assert "could not be fully read" in description["note"]


@pytest.mark.parametrize("der", [b"\x30\x03\x02\x01\x01", b"not a certificate at all"])
def test_bytes_that_are_no_certificate_are_described_with_a_note(der):
    assert "could not be fully read" in describe_certificate(der)["note"]


def test_a_well_formed_certificate_has_no_note(test_ca):
    pem = test_ca.issue_cert("localhost").cert_chain_pems[0].bytes()
    description = describe_certificate(ssl.PEM_cert_to_DER_cert(pem.decode()))
    assert description["names"] == ["localhost"] and "note" not in description


def server(security, context):
    if security == Security.SSL:
        return running_smtp_server(implicit_tls_context=context)
    return running_smtp_server(starttls_context=context)


def settings_for(server, security, **overrides):
    values = {
        "host": "localhost",
        "port": server.port,
        "security": security,
        "from_email": "noreply@example.com",
        "timeout": 5,
    }
    return ProbeSettings(**{**values, **overrides})


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_a_malformed_certificate_passes_tls_when_verification_is_off(malformed_context, security):
    with server(security, malformed_context) as smtp:
        report = run_probe(settings_for(smtp, security, verify_certificate=False), "x@y.org")
    assert report.ok, report.summary()
    assert report.certificate["subject"] == "localhost"
    assert "could not be fully read" in report.certificate["note"]
    tls_step = next(step for step in report.steps if step.name == "tls")
    assert "could not be fully read" in tls_step.detail
    html = render_to_string("smtpconfig/test_report.html", {"report": report})
    assert "could not be fully read" in html


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_a_malformed_untrusted_certificate_is_diagnosed_when_verification_is_on(
    malformed_context, security
):
    with server(security, malformed_context) as smtp:
        report = run_probe(settings_for(smtp, security), "x@y.org")
    assert not report.ok and report.failed_step.name == "tls"
    assert report.diagnosis.code == "certificate_untrusted"
    assert report.certificate["subject"] == "localhost"
    assert "could not be fully read" in report.certificate["note"]
    assert smtp.messages == []


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_malformed_certificate_from_a_trusted_ca_gets_a_verdict_not_an_error(
    malformed_context, ca_pem, security, host
):
    """OpenSSL decides whether the name matches (it may fall back to the subject's CN)."""
    with server(security, malformed_context) as smtp:
        report = run_probe(
            settings_for(smtp, security, host=host, ca_certificate=ca_pem), "x@y.org"
        )
    if not report.ok:
        assert report.failed_step.name == "tls"
        assert report.diagnosis.code.startswith("certificate_")
    assert report.certificate["subject"] == "localhost"
    assert "could not be fully read" in report.certificate["note"]
