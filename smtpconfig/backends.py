"""The email backend the host app sends its mail through.

``EMAIL_BACKEND = "smtpconfig.backends.EmailBackend"`` makes Django's own SMTP
backend take its settings from the default enabled :class:`SMTPProfile`
instead of ``settings.EMAIL_*``. Only where the settings come from changes:
the SMTP conversation is Django's.

Precedence, as in Django: an explicit constructor argument beats the
profile, which beats Django's ``EMAIL_*`` settings.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property

from django.conf import settings
from django.core.mail.backends import smtp
from django.utils.translation import gettext as _

from .exceptions import ProfileNotFound, SecretUnreadable
from .internal import smtp as smtp_clients
from .internal.tls import client_context
from .models import Security, SMTPProfile, format_sender

logger = logging.getLogger("smtpconfig")

# The fallback warning is logged at most once a minute per process.
_FALLBACK_WARNING_INTERVAL = 60.0
_last_fallback_warning = 0.0


def _warn_fallback() -> None:
    global _last_fallback_warning
    now = time.monotonic()
    if now - _last_fallback_warning < _FALLBACK_WARNING_INTERVAL and _last_fallback_warning:
        return
    _last_fallback_warning = now
    logger.warning(
        "No enabled SMTP profile: mail goes out through Django's EMAIL_* settings "
        "(EMAIL_HOST=%r). Add and enable a profile in the admin under SMTP profiles, "
        "or with 'python manage.py smtp_test' to check it.",
        settings.EMAIL_HOST,
    )


def resolve_profile(name: str | None = None) -> SMTPProfile | None:
    """The profile to send through: ``name`` if given, else the default enabled one.

    With no name, the enabled default wins; failing that, the first enabled
    profile by name; None when no profile is enabled. A ``name`` that does
    not exist or is disabled raises :class:`ProfileNotFound`.
    """
    if name is None:
        return SMTPProfile.objects.in_sending_order().first()
    profile = SMTPProfile.objects.filter(name=name).first()
    if profile is None or not profile.enabled:
        available = ", ".join(SMTPProfile.objects.enabled().values_list("name", flat=True))
        raise ProfileNotFound(
            (
                _("SMTP profile “%(name)s” is disabled.")
                if profile
                else _("There is no SMTP profile named “%(name)s”.")
            )
            % {"name": name}
            + " "
            + (
                _("Enabled profiles: %(names)s.") % {"names": available}
                if available
                else _("No profile is enabled.")
            )
        )
    return profile


class EmailBackend(smtp.EmailBackend):
    """Django's SMTP backend with its settings taken from an :class:`SMTPProfile`.

    ``get_connection(profile="name")`` sends through the named profile;
    without it, through the default enabled profile, and with no enabled
    profile through Django's ``EMAIL_*`` settings (with a warning in the log).
    A message whose sender was left to ``DEFAULT_FROM_EMAIL`` goes out as the
    profile's ``Display Name <sender>``; an explicit sender is kept.
    """

    def __init__(
        self,
        host=None,
        port=None,
        username=None,
        password=None,
        use_tls=None,
        fail_silently=False,
        use_ssl=None,
        timeout=None,
        ssl_keyfile=None,
        ssl_certfile=None,
        profile: str | None = None,
        **kwargs,
    ):
        self.profile = resolve_profile(profile)
        self._secret_error: SecretUnreadable | None = None
        if self.profile is None:
            _warn_fallback()
        else:
            stored = self.profile
            if password is None:
                try:
                    password = stored.readable_password()
                except SecretUnreadable as exc:
                    # Raised when a connection is opened, so that building a
                    # backend never fails and the error names the profile.
                    self._secret_error = exc
                    password = ""
            if use_tls is None and use_ssl is None:
                use_tls = stored.security == Security.STARTTLS
                use_ssl = stored.security == Security.SSL
            else:
                use_tls, use_ssl = bool(use_tls), bool(use_ssl)
            host = stored.host.strip("[]") if host is None else host
            port = stored.port if port is None else port
            username = stored.username if username is None else username
            timeout = stored.timeout if timeout is None else timeout
        super().__init__(
            host=host,
            port=port,
            username=username,
            password=password,
            use_tls=use_tls,
            fail_silently=fail_silently,
            use_ssl=use_ssl,
            timeout=timeout,
            ssl_keyfile=ssl_keyfile,
            ssl_certfile=ssl_certfile,
            **kwargs,
        )
        # Django reads "host or EMAIL_HOST": an explicit empty value must still win.
        if host is not None:
            self.host = host
        if port is not None:
            self.port = port

    @property
    def connection_class(self):
        return smtp_clients.SMTP_SSL if self.use_ssl else smtp_clients.SMTP

    @cached_property
    def ssl_context(self):
        if self.profile is None:
            return super().ssl_context
        context = client_context(
            verify=self.profile.verify_certificate, ca_pem=self.profile.ca_certificate
        )
        if self.ssl_certfile or self.ssl_keyfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def open(self):
        if self._secret_error is not None and self.connection is None:
            raise self._secret_error
        return super().open()

    def _send(self, email_message):
        if self.profile is None:
            return super()._send(email_message)
        original_sender, original_reply_to = email_message.from_email, email_message.reply_to
        if email_message.from_email == settings.DEFAULT_FROM_EMAIL:
            email_message.from_email = format_sender(
                self.profile.from_name, self.profile.from_email
            )
        if not email_message.reply_to and self.profile.reply_to:
            email_message.reply_to = [self.profile.reply_to]
        try:
            return super()._send(email_message)
        finally:
            email_message.from_email, email_message.reply_to = original_sender, original_reply_to
