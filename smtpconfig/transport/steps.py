"""The steps of an SMTP conversation, and the failure of one of them.

Every failure on the way to the server is a :class:`StepFailed` that carries
the step and the original error as data: the probe records it, the
diagnosis explains it, the backend fails over on it and raises the original
error to its caller (Django's contract: smtplib and socket errors).
"""

from __future__ import annotations

import smtplib
import socket
import ssl

from django.db.models import TextChoices
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from ..exceptions import SMTPProtocolError


class Step(TextChoices):
    """One step of the conversation, in the order they happen."""

    #: OAuth2 only: an access token from the provider, before anything else.
    TOKEN = "token", _("Token")
    RESOLVE = "resolve", _("Resolve host")
    CONNECT = "connect", _("Connect")
    TLS = "tls", _("TLS")
    EHLO = "ehlo", _("Greeting and EHLO")
    AUTH = "auth", _("Authentication")
    MAIL = "mail", _("Sender (MAIL FROM)")
    RCPT = "rcpt", _("Recipient (RCPT TO)")
    DATA = "data", _("Message (DATA)")


class StepFailed(Exception):
    """``step`` failed with ``error`` (an OSError, an smtplib error, a configuration error).

    Not an error of its own for callers outside the transport: they record it
    (the probe) or raise ``error`` (the backend).
    """

    def __init__(self, step: Step, error: BaseException):
        super().__init__(step, error)
        self.step = Step(step)
        self.error = error

    def __str__(self) -> str:
        return f"{self.step.label}: {self.error}"


def reply_text(reply: bytes | str) -> str:
    """A server reply on one line, as text."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def describe_error(exc: BaseException) -> str:
    """A short, secret-free account of an error, with the server's reply if any."""
    if isinstance(exc, SMTPProtocolError):
        return str(exc)  # says what was wrong with the reply, never the reply itself
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {reply_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        # OpenSSL's reason code, such as WRONG_VERSION_NUMBER, in words.
        return str(exc.reason).replace("_", " ").lower() if exc.reason else str(exc)
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return str(exc) or gettext_now("timed out")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__
