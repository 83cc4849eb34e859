"""What a failed SMTP conversation means, and which setting to change.

:func:`diagnose` reads the failing step of a :class:`~smtpconfig.probe.ProbeReport`
(its exception and the server's reply) and returns a :class:`Diagnosis`: the
problem in plain words, the fix, the form field to change and, where it can
be known, the value to put there. The wording is for an administrator.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from .exceptions import ConversationTimeout, NotAnSMTPServer, SMTPProtocolError
from .models import Security
from .presets import known_error_for

if TYPE_CHECKING:
    from .probe import ProbeReport, ProbeSettings


@dataclass(frozen=True)
class Diagnosis:
    """A failure explained: what is wrong, what to do, and where."""

    code: str
    problem: str
    fix: str
    field: str = ""
    suggestion: Any = None
    temporary: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# OpenSSL's words for "the other side is not speaking TLS".
_NOT_TLS = re.compile(
    r"wrong.version.number|unknown.protocol|packet.length.too.long|record.layer.failure|"
    r"http.request",
    re.IGNORECASE,
)
_RELAY_DENIED = re.compile(r"relay(ing)?\s+(access\s+)?(denied|not permitted)|5\.7\.54", re.I)
_SENDER_NOT_OWNED = re.compile(
    r"not owned|not allowed to send|sender.*(not|un)authori[sz]ed|5\.7\.1|SendAsDenied", re.I
)
_NEEDS_AUTH = re.compile(r"auth(entication)?\s+required|5\.7\.0|must authenticate|5\.7\.57", re.I)
_NEEDS_TLS = re.compile(r"STARTTLS|5\.7\.11|encryption required|must issue", re.I)

# OpenSSL certificate verification error numbers (X509_V_ERR_*).
_CERT_EXPIRED, _CERT_NOT_YET_VALID = 10, 9
_CERT_SELF_SIGNED, _CERT_SELF_SIGNED_IN_CHAIN, _CERT_UNKNOWN_ISSUER = 18, 19, 20
_CERT_UNKNOWN_ISSUER_LEAF = 21
_CERT_HOSTNAME_MISMATCH, _CERT_IP_MISMATCH = 62, 64


def _standard_port(security: str) -> int | None:
    return {Security.SSL: 465, Security.STARTTLS: 587}.get(security)


def _reply(exc: BaseException | None) -> tuple[int | None, str]:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return exc.smtp_code, " ".join(str(text).split())
    return None, ""


def diagnose(report: ProbeReport, settings: ProbeSettings) -> Diagnosis | None:
    """Explain the failing step of ``report``; None when nothing failed."""
    step = report.failed_step
    if step is None:
        return None
    exc = report.exception
    if isinstance(exc, ConversationTimeout):
        return _too_slow(exc, settings)
    if isinstance(exc, SMTPProtocolError):
        return _protocol_error(exc, settings)
    code, reply = _reply(exc)
    if code is not None and 400 <= code < 500 and step.name != "auth":
        return _temporary(code, reply)
    if (
        code is None
        and step.name in ("auth", "mail", "rcpt")
        and isinstance(
            exc, TimeoutError | socket.timeout | smtplib.SMTPServerDisconnected | ConnectionError
        )
    ):
        return _no_answer(step, settings)
    handler = {
        "resolve": _resolve,
        "connect": _connect,
        "tls": _tls,
        "ehlo": _ehlo,
        "auth": _auth,
        "mail": _mail,
        "rcpt": _rcpt,
        "data": _data,
    }[step.name]
    return handler(exc, code, reply, settings, report)


def _no_answer(step, settings) -> Diagnosis:
    return Diagnosis(
        code="no_answer",
        problem=_(
            "The server stopped answering at step “%(step)s” (%(error)s): it did not refuse "
            "anything, it went silent or closed the connection."
        )
        % {"step": step.label, "error": step.detail},
        fix=_(
            "Try again. If it keeps happening the server is overloaded, or something between "
            "here and %(host)s cuts connections; the timeout (%(timeout)s s) may be too short "
            "for a slow server."
        )
        % {"host": settings.host, "timeout": settings.timeout},
        field="timeout",
        temporary=True,
    )


def _too_slow(exc: ConversationTimeout, settings) -> Diagnosis:
    return Diagnosis(
        code="conversation_timeout",
        problem=_(
            "The server answers too slowly: %(error)s. Each answer may take up to the "
            "timeout (%(timeout)s s), and the conversation as a whole is limited too, so "
            "that a slow server cannot hold up the site."
        )
        % {"error": exc, "timeout": settings.timeout},
        fix=_(
            "Try again later. If the server is always this slow, ask its administrator or "
            "use another server. The whole conversation may last three times the timeout, "
            "up to the site's limit (SMTPCONFIG['MAX_CONVERSATION_SECONDS'])."
        ),
        field="timeout",
        temporary=True,
    )


def _protocol_error(exc: SMTPProtocolError, settings) -> Diagnosis:
    where = {"host": settings.host, "port": settings.port, "error": exc}
    if isinstance(exc, NotAnSMTPServer):
        standard = _standard_port(settings.security)
        return Diagnosis(
            code="not_smtp_server",
            problem=_(
                "Something answers on %(host)s port %(port)s, but it is not an SMTP "
                "server (%(error)s)."
            )
            % where,
            fix=_(
                "Check the server name and port: this port belongs to another service. "
                "Mail submission is usually on port 587 (STARTTLS) or 465 (SSL/TLS)."
            ),
            field="port",
            suggestion=standard if standard != settings.port else None,
        )
    return Diagnosis(
        code="protocol_error",
        problem=_("%(host)s is not a well-behaved SMTP server: %(error)s.") % where,
        fix=_(
            "Check the server name and port. If they are right, the server (or a proxy or "
            "filter in front of it) is broken: ask its administrator."
        ),
        field="host",
    )


def _temporary(code: int, reply: str) -> Diagnosis:
    return Diagnosis(
        code="temporary_failure",
        problem=_("The server reported a temporary problem (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_("This is not a settings problem. Try again in a few minutes."),
        temporary=True,
    )


def _resolve(exc, code, reply, settings, report) -> Diagnosis:
    if isinstance(exc, TimeoutError):
        return Diagnosis(
            code="dns_timeout",
            problem=_("The DNS lookup of “%(host)s” did not answer in time.")
            % {"host": settings.host},
            fix=_("Check this server's DNS settings and network, then try again."),
            field="host",
            temporary=True,
        )
    return Diagnosis(
        code="host_not_found",
        problem=_("The server name “%(host)s” does not exist in DNS.") % {"host": settings.host},
        fix=_("Check the spelling of the SMTP server name, such as smtp.example.com."),
        field="host",
    )


def _connect(exc, code, reply, settings, report) -> Diagnosis:
    from .transport.policy import BlockedAddress

    where = {"host": settings.host, "port": settings.port}
    standard = _standard_port(settings.security)
    if isinstance(exc, BlockedAddress):
        return Diagnosis(
            code="address_blocked",
            problem=_(
                "%(host)s leads to an address this site may not connect to (link-local or "
                "cloud metadata addresses are blocked): %(error)s."
            )
            % {**where, "error": exc},
            fix=_(
                "Check the server name. If this really is your mail server, an operator can "
                "add it to SMTPCONFIG['ALLOWED_HOSTS']."
            ),
            field="host",
        )
    if isinstance(exc, ConnectionRefusedError):
        fix = _("Check the port your provider gives for submission.")
        if standard and standard != settings.port:
            fix += " " + _("With %(mode)s it is usually %(port)s.") % {
                "mode": Security(settings.security).label,
                "port": standard,
            }
        return Diagnosis(
            code="connection_refused",
            problem=_(
                "%(host)s refused the connection on port %(port)s: nothing listens there, "
                "or the mail server is down."
            )
            % where,
            fix=fix,
            field="port",
            suggestion=standard if standard != settings.port else None,
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        alternative = 587 if settings.port != 587 else 465
        return Diagnosis(
            code="connection_timeout",
            problem=_(
                "No answer from %(host)s on port %(port)s within %(timeout)s seconds: a "
                "firewall, or your hosting provider, is probably blocking the port."
            )
            % {**where, "timeout": settings.timeout},
            fix=_(
                "Try port 587 with STARTTLS or port 465 with SSL/TLS (many hosting providers "
                "block port 25), or ask your hosting provider to open the port."
            ),
            field="port",
            suggestion=alternative,
        )
    return Diagnosis(
        code="connection_failed",
        problem=_("Could not connect to %(host)s on port %(port)s: %(error)s.")
        % {**where, "error": report.failed_step.detail},
        fix=_("Check the server name and port, and this machine's network connection."),
        field="host",
    )


def _tls(exc, code, reply, settings, report) -> Diagnosis:
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
        return _certificate(exc, settings, report.certificate)
    if settings.security == Security.SSL and _NOT_TLS.search(str(exc)):
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
        % {"host": settings.host, "error": report.failed_step.detail},
        fix=_(
            "Check the SSL/TLS mode and port (465 for SSL/TLS, 587 for STARTTLS). An old "
            "server may only offer TLS versions that are no longer considered safe."
        ),
        field="security",
    )


def _certificate(exc: ssl.SSLCertVerificationError, settings, certificate: dict) -> Diagnosis:
    number = exc.verify_code
    names = [name for name in certificate.get("names", []) if "*" not in name]
    if number in (_CERT_HOSTNAME_MISMATCH, _CERT_IP_MISMATCH):
        problem = _("The server's certificate is not valid for the name “%(host)s”.") % {
            "host": settings.host
        }
        if certificate.get("names"):
            problem += " " + _("It names: %(names)s.") % {"names": ", ".join(certificate["names"])}
        return Diagnosis(
            code="certificate_name_mismatch",
            problem=problem,
            fix=_(
                "Enter the server name exactly as it appears in the certificate (often the "
                "provider's own host name rather than your domain)."
            ),
            field="host",
            suggestion=names[0] if len(names) == 1 else None,
        )
    if number in (_CERT_EXPIRED, _CERT_NOT_YET_VALID):
        when = certificate.get("not_after", "")[:10] if number == _CERT_EXPIRED else ""
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
        _CERT_SELF_SIGNED,
        _CERT_SELF_SIGNED_IN_CHAIN,
        _CERT_UNKNOWN_ISSUER,
        _CERT_UNKNOWN_ISSUER_LEAF,
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


def _ehlo(exc, code, reply, settings, report) -> Diagnosis:
    if (
        isinstance(exc, TimeoutError | socket.timeout | smtplib.SMTPServerDisconnected)
        and settings.security != Security.SSL
    ):
        return Diagnosis(
            code="no_greeting",
            problem=_(
                "The server on port %(port)s accepted the connection but sent no SMTP "
                "greeting: it probably expects SSL/TLS from the first byte."
            )
            % {"port": settings.port},
            fix=_("Choose SSL/TLS (port 465 is the usual SSL/TLS port)."),
            field="security",
            suggestion=Security.SSL,
        )
    if code is not None:
        return Diagnosis(
            code="greeting_refused",
            problem=_("The server refused the session: %(code)s %(reply)s")
            % {"code": code, "reply": reply},
            fix=_(
                "The server does not accept mail from this machine. Check with your provider "
                "that this server's address may use it."
            ),
            field="host",
        )
    return Diagnosis(
        code="greeting_failed",
        problem=_("The SMTP greeting failed: %(error)s.") % {"error": report.failed_step.detail},
        fix=_("Check the SSL/TLS mode and port."),
        field="security",
    )


def _auth(exc, code, reply, settings, report) -> Diagnosis:
    from .probe import PasswordMissing, PlaintextAuthRefused

    if isinstance(exc, PlaintextAuthRefused):
        return Diagnosis(
            code="plaintext_auth_refused",
            problem=_(
                "The SSL/TLS mode is “None”, so the user name and password would cross the "
                "network unencrypted. They were not sent."
            ),
            fix=_(
                "Choose STARTTLS (port 587) or SSL/TLS (port 465). Only if the server cannot "
                "encrypt and sits on a network you trust, tick “Allow password over an "
                "unencrypted connection”."
            ),
            field="security",
            suggestion=Security.STARTTLS,
        )

    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # The probe's AuthNotOffered, or smtplib's "SMTP AUTH extension not supported".
        encrypted = settings.security != Security.NONE
        return Diagnosis(
            code="auth_not_offered",
            problem=_(
                "A user name is set, but the server does not offer authentication (no AUTH "
                "in its reply to EHLO)."
            ),
            fix=_("If this server needs no login, clear the user name.")
            if encrypted
            else _(
                "Many servers offer AUTH only on an encrypted connection: choose STARTTLS "
                "or SSL/TLS. If this server needs no login, clear the user name."
            ),
            field="username" if encrypted else "security",
            suggestion=None if encrypted else Security.STARTTLS,
        )
    if isinstance(exc, PasswordMissing):
        return Diagnosis(
            code="password_missing",
            problem=_("A user name is set but no password is stored."),
            fix=_("Enter the password, or clear the user name if the server needs no login."),
            field="password",
        )
    if code is not None and 400 <= code < 500:
        return _temporary(code, reply)
    match = known_error_for(settings.host, f"{code} {reply}")
    if match:
        preset, known = match
        return Diagnosis(
            code=f"{preset.key}_auth",
            problem=str(known.problem),
            fix=str(known.fix),
            field=known.field,
        )
    if code == 530 or (code is not None and _NEEDS_TLS.search(reply)):
        return Diagnosis(
            code="auth_needs_tls",
            problem=_("The server wants an encrypted connection before login: %(reply)s")
            % {"reply": reply},
            fix=_("Choose STARTTLS (port 587) or SSL/TLS (port 465)."),
            field="security",
            suggestion=Security.STARTTLS,
        )
    if code is None:
        return Diagnosis(
            code="auth_mechanism_unsupported",
            problem=_("No authentication method in common with the server: %(error)s.")
            % {"error": report.failed_step.detail},
            fix=_(
                "The server offers none of PLAIN, LOGIN or CRAM-MD5; it may require OAuth2. "
                "Ask your provider for password-based SMTP access or use another provider."
            ),
            field="username",
        )
    return Diagnosis(
        code="auth_failed",
        problem=_("The server rejected the user name or password (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_(
            "Check the user name (usually the full email address) and type the password "
            "again. Many providers need an app password rather than your normal password."
        ),
        field="password",
    )


def _auth_required(code, reply) -> Diagnosis:
    return Diagnosis(
        code="auth_required",
        problem=_("The server requires a login before it accepts mail (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_("Enter the user name and password of the mail account."),
        field="username",
    )


def _mail(exc, code, reply, settings, report) -> Diagnosis:
    if _NEEDS_AUTH.search(reply) or code == 530:
        return _auth_required(code, reply)
    match = known_error_for(settings.host, f"{code} {reply}", field="from_email")
    if match:
        preset, known = match
        return Diagnosis(
            code=f"{preset.key}_sender",
            problem=str(known.problem),
            fix=str(known.fix),
            field="from_email",
        )
    suggestion = settings.username if "@" in settings.username else None
    return Diagnosis(
        code="sender_rejected",
        problem=_("The server refused the sender address %(sender)s (%(code)s %(reply)s).")
        % {"sender": settings.from_email, "code": code, "reply": reply},
        fix=_(
            "Most providers only let an account send from its own address or a verified "
            "alias: set the sender email to the account's address."
        ),
        field="from_email",
        suggestion=suggestion if suggestion != settings.from_email else None,
    )


def _rcpt(exc, code, reply, settings, report) -> Diagnosis:
    if _RELAY_DENIED.search(reply):
        return Diagnosis(
            code="relay_denied",
            problem=_(
                "The server will not pass mail on to other domains (relaying denied): "
                "%(code)s %(reply)s"
            )
            % {"code": code, "reply": reply},
            fix=_("Log in: enter the user name and password of the mail account.")
            if not settings.username
            else _("Check that this account may send to outside addresses."),
            field="username",
        )
    if _NEEDS_AUTH.search(reply):
        return _auth_required(code, reply)
    return Diagnosis(
        code="recipient_rejected",
        problem=_("The server refused the recipient %(recipient)s (%(code)s %(reply)s).")
        % {"recipient": report.recipient, "code": code, "reply": reply},
        fix=_(
            "Check the test recipient's address. The server settings themselves work up to "
            "this point."
        ),
        field="test_recipient",
    )


def _data(exc, code, reply, settings, report) -> Diagnosis:
    if code == 552 or "5.3.4" in reply:
        return Diagnosis(
            code="message_too_large",
            problem=_("The message is larger than the server accepts (%(code)s %(reply)s).")
            % {"code": code, "reply": reply},
            fix=_("Send smaller messages or ask your provider for a larger limit."),
        )
    if code is None:
        return Diagnosis(
            code="data_interrupted",
            problem=_(
                "The connection broke while the message was being sent (%(error)s); the "
                "server may or may not have accepted it."
            )
            % {"error": report.failed_step.detail},
            fix=_("Try again; if it keeps happening, the server or the network is unstable."),
            temporary=True,
        )
    return Diagnosis(
        code="message_rejected",
        problem=_("The server refused the message (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_(
            "The server's policy rejected the content or the sender. Check the sender "
            "address and its domain's SPF and DKIM records."
        ),
        field="from_email",
    )


def diagnose_exception(
    exc: BaseException, step: str, settings: Any, recipient: str = ""
) -> Diagnosis | None:
    """Explain an exception raised at ``step`` outside the probe (by the backend).

    ``settings`` needs the probe settings' attributes (host, port, security,
    timeout, username, from_email): a profile snapshot does.
    """
    from .probe import ProbeReport, Step, describe_exception

    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, reply = next(iter(exc.recipients.values()))
        exc = smtplib.SMTPResponseException(code, reply)
    report = ProbeReport(
        host=settings.host,
        port=settings.port,
        security=settings.security,
        recipient=recipient,
        send=True,
        steps=[Step(name=step, ok=False, detail=describe_exception(exc))],
        exception=exc,
    )
    return diagnose(report, settings)
