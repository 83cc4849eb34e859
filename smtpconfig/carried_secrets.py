"""A secret typed in the profile form, kept across the page's round trips, never shown.

Without JavaScript, "Send test email", "Check connection", "Detect settings"
and "Use these settings" come back as a new page, and a password box is never
filled in again. So the page carries what was typed in a hidden field instead:
the secret sealed with the app's keys to the server settings it was typed for
(:mod:`smtpconfig.secret_binding`), then signed with a salt that names the
user's session (a digest of its key), the form (add page or profile) and the
field, and a time limit. The page holds only ciphertext; the token opens
in no other session, form or field, after :data:`MAX_AGE`, or for other
server settings.
"""

from __future__ import annotations

import hashlib
import secrets

from django.core import signing
from django.views.decorators.debug import sensitive_variables

from . import secret_binding

#: How long a carried secret may be used (seconds).
MAX_AGE = 15 * 60
#: The hidden field that carries each secret field of the profile form.
CARRIER_FIELDS = {
    "password": "_password_carried",
    "oauth_client_secret": "_oauth_client_secret_carried",
}
_SALT = "smtpconfig.carried-secret"
_SESSION_KEY = "_smtpconfig_carry_key"


class SecretCarrier:
    """Seals and opens the carried secrets of one form (``form_key``) in one session."""

    def __init__(self, session, form_key: str):
        self.session = session
        self.form_key = form_key

    def _salt(self, field: str, *, create: bool) -> str:
        # The signed-in session's own key, when it has one: binding to it writes nothing,
        # so a page on a database that refuses writes still carries the secret. A random
        # value kept in the session otherwise (a session not saved yet).
        if self.session.session_key:
            digest = hashlib.sha256(self.session.session_key.encode("utf-8")).hexdigest()
            return f"{_SALT}:{digest}:{self.form_key}:{field}"
        key = self.session.get(_SESSION_KEY)
        if not key:
            if not create:
                raise signing.BadSignature("no carried secrets in this session")
            key = self.session[_SESSION_KEY] = secrets.token_urlsafe(24)
        return f"{_SALT}:{key}:{self.form_key}:{field}"

    @sensitive_variables("secret")
    def seal(self, field: str, secret: str, destination: str) -> str:
        """The token that carries ``secret`` of ``field`` for ``destination`` (a digest of
        the server settings, :func:`secret_binding.destination_of`)."""
        sealed = secret_binding.seal(secret, destination)
        return signing.dumps(sealed, salt=self._salt(field, create=True))

    def open(self, field: str, token: str, destination: str) -> str:
        """The secret in ``token``.

        Raises ``signing.SignatureExpired`` after :data:`MAX_AGE`,
        ``signing.BadSignature`` for a token of another session, form or field
        (or altered), and :class:`~smtpconfig.secret_binding.SecretBoundElsewhere`
        when the server settings changed since it was typed.
        """
        sealed = signing.loads(token, salt=self._salt(field, create=False), max_age=MAX_AGE)
        if not isinstance(sealed, str):
            raise signing.BadSignature("not a carried secret")
        return secret_binding.unseal(sealed, destination)
