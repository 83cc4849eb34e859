"""Encryption: the TLS handshake and the server's certificate."""

from __future__ import annotations

import smtplib
import ssl

from django.utils.translation import gettext as _

from ..transport.settings import Security
from .base import (
    CERT_EXPIRED,
    CERT_HOSTNAME_MISMATCH,
    CERT_IP_MISMATCH,
    CERT_NOT_YET_VALID,
    CERT_SELF_SIGNED,
    CERT_SELF_SIGNED_IN_CHAIN,
    CERT_UNKNOWN_ISSUER,
    CERT_UNKNOWN_ISSUER_LEAF,
    NOT_TLS,
    Diagnosis,
)
from .certificate_names import names_pointing_at
from .provider import provider_of


def tls(exc, code, reply, settings, failure) -> Diagnosis:
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # The probe's StartTLSNotOffered, or smtplib's own "STARTTLS extension not supported".
        return Diagnosis(
            code="starttls_not_offered",
            problem=_(
                "The server does not offer STARTTLS, so the connection cannot be encrypted. "
                "Nothing more was sent, not even the password."
            ),
            fix=_(
                "If the server supports SSL/TLS, choose SSL/TLS (usually port 465). Otherwise "
                "ask your provider for an encrypted submission port."
            ),
            field="security",
            suggestion=Security.SSL,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return certificate(exc, settings, failure.certificate, failure.address)
    if settings.security == Security.SSL and NOT_TLS.search(str(exc)):
        choice = _("Choose STARTTLS and port 587") if settings.port == 465 else _("Choose STARTTLS")
        return Diagnosis(
            code="ssl_on_plain_port",
            problem=_(
                "SSL/TLS is chosen, but the server on port %(port)s speaks plain SMTP "
                "first (OpenSSL says “wrong version number”)."
            )
            % {"port": settings.port},
            fix=(
                _("%(choice)s, or keep SSL/TLS and use port 465.")
                if settings.port != 465
                else _("%(choice)s.")
            )
            % {"choice": choice},
            field="security",
            suggestion=Security.STARTTLS,
        )
    if code is not None:
        return Diagnosis(
            code="starttls_refused",
            problem=_("The server refused STARTTLS: %(code)s %(reply)s")
            % {"code": code, "reply": reply},
            fix=_("Choose SSL/TLS on port 465 if the server offers it, or ask your provider."),
            field="security",
            suggestion=Security.SSL,
        )
    return Diagnosis(
        code="tls_failed",
        problem=_("The TLS handshake with %(host)s failed: %(error)s.")
        % {"host": settings.host, "error": failure.detail},
        fix=_(
            "Check the SSL/TLS mode and port (465 for SSL/TLS, 587 for STARTTLS). An old "
            "server may only offer TLS versions that are no longer considered safe."
        ),
        field="security",
    )


def certificate(
    exc: ssl.SSLCertVerificationError, settings, certificate: dict, address: str = ""
) -> Diagnosis:
    number = exc.verify_code
    if number in (CERT_HOSTNAME_MISMATCH, CERT_IP_MISMATCH):
        return _name_mismatch(settings, certificate, address)
    if number in (CERT_EXPIRED, CERT_NOT_YET_VALID):
        when = certificate.get("not_after", "")[:10] if number == CERT_EXPIRED else ""
        return Diagnosis(
            code="certificate_expired",
            problem=(
                _("The server's certificate expired on %(date)s.") % {"date": when}
                if when
                else _("The server's certificate has expired or is not valid yet.")
            ),
            fix=_(
                "The server's administrator must renew the certificate. Check too that this "
                "machine's clock is right."
            ),
            field="verify_certificate",
        )
    if number in (
        CERT_SELF_SIGNED,
        CERT_SELF_SIGNED_IN_CHAIN,
        CERT_UNKNOWN_ISSUER,
        CERT_UNKNOWN_ISSUER_LEAF,
    ):
        return Diagnosis(
            code="certificate_untrusted",
            problem=_(
                "The server's certificate is self-signed or signed by an authority this "
                "machine does not trust."
            ),
            fix=_(
                "Paste the certificate of the authority that signed it into “Custom CA "
                "certificate”. Only for a server you control on a network you trust: untick "
                "“Verify certificate” (the connection can then be intercepted)."
            ),
            field="ca_certificate",
        )
    return Diagnosis(
        code="certificate_invalid",
        problem=_("The server's certificate could not be verified: %(reason)s.")
        % {"reason": exc.verify_message or exc.reason},
        fix=_("Ask the server's administrator to fix the certificate."),
        field="verify_certificate",
    )


def _name_mismatch(settings, certificate: dict, address: str) -> Diagnosis:
    """A certificate for other names: one of them is offered only if it points at this server."""
    said = {
        "host": settings.host,
        "names": ", ".join(certificate.get("names", [])),
        "address": address,
    }
    problem = _("The server's certificate is not valid for the name “%(host)s”.") % said
    if said["names"]:
        problem += " " + _("It names: %(names)s.") % said
    confirmed = names_pointing_at(
        certificate.get("names", []), address, settings.port, settings.timeout
    )
    if confirmed:
        return Diagnosis(
            code="certificate_name_mismatch",
            problem=problem
            + " "
            + _("%(name)s points to the same server (%(address)s).")
            % {**said, "name": confirmed[0]},
            fix=_("Enter the server name as the certificate names it: %(name)s.")
            % {"name": confirmed[0]},
            field="host",
            suggestion=confirmed[0],
        )
    preset = provider_of(settings)
    documented = (
        " "
        + _("%(provider)s's documented server is %(documented)s.")
        % {"provider": preset.label, "documented": preset.host}
        if preset is not None and preset.host
        else ""
    )
    return Diagnosis(
        code="certificate_name_mismatch",
        problem=problem
        + " "
        + (
            _(
                "None of those names points to the address connected to (%(address)s): the "
                "certificate does not belong to this server."
            )
            if address
            else _("The certificate does not belong to this server.")
        )
        % said,
        fix=_(
            "Do not switch to a name from this certificate. Check the server name and port "
            "against your provider's documented settings; if they are right, something "
            "between this machine and the server (a proxy, security software or a captive "
            "portal) may be intercepting the connection."
        )
        + documented,
        field="host",
    )
