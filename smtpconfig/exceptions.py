"""Exceptions raised by smtpconfig.

Configuration problems subclass :class:`ImproperlyConfigured` and are kept out
of the send-error hierarchy, so that ``fail_silently`` never swallows them.
Send errors subclass the ``smtplib`` or ``OSError`` exception a caller already
catches.
"""

import smtplib

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _


class SMTPConfigImproperlyConfigured(ImproperlyConfigured):
    """smtpconfig is set up wrongly; the message names the setting to fix."""


class EncryptionKeyMissing(SMTPConfigImproperlyConfigured):
    """No encryption key is configured, so a password cannot be stored or read."""


class InvalidEncryptionKey(SMTPConfigImproperlyConfigured):
    """A configured encryption key is not a valid Fernet key."""


class SecretUnreadable(SMTPConfigImproperlyConfigured):
    """A stored secret cannot be decrypted with any configured key.

    The usual cause is a changed or lost key: the password must be typed
    again. The message never contains the secret or the key.
    """


class ProfileNotFound(SMTPConfigImproperlyConfigured):
    """The SMTP profile asked for does not exist or is disabled."""


# Send errors: raised by the SMTP client under both the backend and the test, so that
# the backend handles them like any other failure (fail_silently, failover, the log).


class SMTPProtocolError(smtplib.SMTPResponseException):
    """The server's reply breaks SMTP: too long, without a reply code, a bad AUTH challenge.

    ``smtp_code`` is -1, as smtplib gives for a reply code it cannot read; the
    text says what was wrong and never holds more of the reply than a short,
    sanitised start.
    """

    def __init__(self, message: str):
        super().__init__(-1, message)

    def __str__(self) -> str:
        return str(self.smtp_error)


class ReplyTooLong(SMTPProtocolError):
    """A reply went past the number of lines or bytes a client reads; it was cut."""


class MalformedReply(SMTPProtocolError):
    """A reply without a valid reply code, or an AUTH challenge that is not base64."""


class NotAnSMTPServer(SMTPProtocolError):
    """What answered the connection did not greet like an SMTP server."""


class StartTLSNotOffered(smtplib.SMTPNotSupportedError):
    """The server's EHLO reply has no STARTTLS, so nothing more was sent."""


class AuthNotOffered(smtplib.SMTPNotSupportedError):
    """A user name is set but the server's EHLO reply offers no AUTH."""


class PasswordMissing(smtplib.SMTPException):
    """A user name is set but there is no password to log in with."""


class TokenMissing(smtplib.SMTPException):
    """OAuth2 sign-in is chosen but there is no access token to log in with."""


class TokenRefused(smtplib.SMTPException):
    """The OAuth2 token endpoint refused to give an access token (RFC 6749 section 5.2).

    ``error`` is the endpoint's code (``invalid_grant``, ``invalid_client``...),
    ``description`` its explanation; neither holds a token or a secret.
    """

    def __init__(self, error: str, description: str = ""):
        self.error, self.description = error, description
        super().__init__(f"{error}: {description}" if description else error)


class PlaintextAuthRefused(smtplib.SMTPException):
    """A login over an unencrypted connection was not allowed; nothing was sent."""


class RecipientRefused(smtplib.SMTPResponseException):
    """The server refused the recipient at RCPT TO."""


class MessageTooLarge(smtplib.SMTPResponseException):
    """The message is larger than the SIZE the server announced; it was not sent."""


class ConversationTimeout(TimeoutError):
    """The whole conversation (a test, opening a connection, sending a message) ran out of time.

    Each reply has the profile's timeout; the whole has ``seconds`` (see
    :func:`smtpconfig.transport.deadline.conversation_budget`).
    """

    def __init__(self, seconds: float, kind: str):
        self.seconds, self.kind = seconds, kind
        limit = {"seconds": f"{seconds:g}"}
        message = {
            "test": _("the whole test took longer than its limit of %(seconds)s s"),
            "connect": _("connecting and logging in took longer than the limit of %(seconds)s s"),
            "http": _("the server took longer than the limit of %(seconds)s s to answer"),
        }.get(kind, _("sending the message took longer than the limit of %(seconds)s s"))
        super().__init__(message % limit)
