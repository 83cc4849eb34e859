"""TLS contexts for a profile and a readable description of a server certificate."""

from __future__ import annotations

import datetime
import functools
import ssl

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID
from django.utils.translation import gettext as _


def client_context(*, verify: bool = True, ca_pem: str = "") -> ssl.SSLContext:
    """A client context: the system's trust store, plus ``ca_pem`` if given.

    With ``verify`` off, the certificate and host name are not checked (the
    certificate is still read, so it can be shown).

    Contexts are cached per process: loading the system trust store takes
    about 20 ms, far more than a whole SMTP conversation on a fast network,
    and a context can be shared by any number of connections. A change to
    the system's trust store is seen after a restart.
    """
    return _cached_client_context(verify, ca_pem.strip())


@functools.lru_cache(maxsize=32)
def _cached_client_context(verify: bool, ca_pem: str) -> ssl.SSLContext:
    return new_client_context(verify=verify, ca_pem=ca_pem)


def new_client_context(*, verify: bool = True, ca_pem: str = "") -> ssl.SSLContext:
    """Like :func:`client_context`, but a context of the caller's own (not shared)."""
    ca_pem = ca_pem.strip()
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _common_name(name: x509.Name) -> str:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attributes:
        return str(attributes[0].value)
    return name.rfc4514_string()


def describe_certificate(der: bytes | None) -> dict:
    """Subject, issuer, validity and names of a DER certificate, as plain data.

    Never raises: the certificate comes from the server and may be malformed
    (a broken extension, an odd name). What cannot be read stays empty
    (``""``, ``[]``, ``None``) and ``note`` says that the certificate could
    not be fully read.
    """
    if not der:
        return {}
    description: dict = {
        "subject": "",
        "issuer": "",
        "not_before": "",
        "not_after": "",
        "expired": None,
        "not_yet_valid": None,
        "self_signed": None,
        "names": [],
    }
    complete = True
    try:
        certificate = x509.load_der_x509_certificate(der)
    except Exception:  # noqa: BLE001 - untrusted input: unreadable is a finding, not an error
        certificate, complete = None, False
    if certificate is not None:
        for read in (_read_parties, _read_validity, _read_names):
            try:
                read(certificate, description)
            except Exception:  # noqa: BLE001 - as above; the other parts are still read
                complete = False
    if not complete:
        description["note"] = _(
            "The certificate could not be fully read; only what could be read is shown."
        )
    return description


def _read_parties(certificate: x509.Certificate, description: dict) -> None:
    description["subject"] = _common_name(certificate.subject)
    description["issuer"] = _common_name(certificate.issuer)
    description["self_signed"] = certificate.subject == certificate.issuer


def _read_validity(certificate: x509.Certificate, description: dict) -> None:
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    now = datetime.datetime.now(datetime.UTC)
    description.update(
        not_before=not_before.isoformat(),
        not_after=not_after.isoformat(),
        expired=now > not_after,
        not_yet_valid=now < not_before,
    )


def _read_names(certificate: x509.Certificate, description: dict) -> None:
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return
    names = [str(value) for value in san.value.get_values_for_type(x509.DNSName)]
    names += [str(value) for value in san.value.get_values_for_type(x509.IPAddress)]
    description["names"] = names
