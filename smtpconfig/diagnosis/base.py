"""What the diagnosis modules share: the verdict, the failure it explains, reply patterns."""

from __future__ import annotations

import re
import smtplib
from dataclasses import asdict, dataclass, fields
from typing import Any

from django.utils.translation import gettext as _

from ..transport.settings import STANDARD_PORTS
from ..transport.steps import Step


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """A diagnosis from :meth:`as_dict`'s data (a stored report): unknown keys ignored."""
        names = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class Failure:
    """What failed: the step, the error, and what the caller saw of it."""

    step: Step
    error: BaseException
    #: The step's account of the failure (the probe's, or the error described).
    detail: str = ""
    #: The server's certificate, when one was read (a failed verification shows it).
    certificate: dict | None = None
    #: The test's recipient, or the message's recipients.
    recipient: str = ""
    #: The server's address the conversation connected to ("" when not known).
    address: str = ""


# OpenSSL's words for "the other side is not speaking TLS".
NOT_TLS = re.compile(
    r"wrong.version.number|unknown.protocol|packet.length.too.long|record.layer.failure|"
    r"http.request",
    re.IGNORECASE,
)
RELAY_DENIED = re.compile(r"relay(ing)?\s+(access\s+)?(denied|not permitted)|5\.7\.54", re.I)
SENDER_NOT_OWNED = re.compile(
    r"not owned|not allowed to send|sender.*(not|un)authori[sz]ed|5\.7\.1|SendAsDenied", re.I
)
NEEDS_AUTH = re.compile(r"auth(entication)?\s+required|5\.7\.0|must authenticate|5\.7\.57", re.I)
NEEDS_TLS = re.compile(r"STARTTLS|5\.7\.11|encryption required|must issue", re.I)

# OpenSSL certificate verification error numbers (X509_V_ERR_*).
CERT_EXPIRED, CERT_NOT_YET_VALID = 10, 9
CERT_SELF_SIGNED, CERT_SELF_SIGNED_IN_CHAIN, CERT_UNKNOWN_ISSUER = 18, 19, 20
CERT_UNKNOWN_ISSUER_LEAF = 21
CERT_HOSTNAME_MISMATCH, CERT_IP_MISMATCH = 62, 64


def standard_port(security: str) -> int | None:
    return STANDARD_PORTS.get(security)


def reply_of(exc: BaseException | None) -> tuple[int | None, str]:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return exc.smtp_code, " ".join(str(text).split())
    return None, ""


def auth_required(code, reply) -> Diagnosis:
    return Diagnosis(
        code="auth_required",
        problem=_("The server requires a login before it accepts mail (%(code)s %(reply)s).")
        % {"code": code, "reply": reply},
        fix=_("Enter the user name and password of the mail account."),
        field="username",
    )
