"""Exceptions raised by smtpconfig.

Configuration problems subclass :class:`ImproperlyConfigured` and are kept out
of the send-error hierarchy, so that ``fail_silently`` never swallows them.
"""

from django.core.exceptions import ImproperlyConfigured


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
