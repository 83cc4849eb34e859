"""A stored secret sealed to the server it was entered for.

A password typed for ``smtp.example.com:587`` must never reach another
server, whatever changes the profile afterwards: the admin form, a command,
``QuerySet.update()`` or raw SQL. So the server is part of what is
encrypted: the ciphertext holds the secret together with a digest of
everything that decides who receives it (host, port, SSL/TLS mode, the
plaintext permission, certificate verification and the trusted CA). Reading
the secret names the destination it is about to be used for, and a secret
sealed for any other destination is refused. Fernet authenticates the
ciphertext, so the digest cannot be swapped without the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from . import crypto
from .exceptions import SecretUnreadable, SMTPConfigImproperlyConfigured

#: The profile fields that decide who receives a secret: changing any of them
#: means the secret must be typed again before it is used.
DESTINATION_FIELDS = (
    "host",
    "port",
    "security",
    "allow_plaintext_auth",
    "verify_certificate",
    "ca_certificate",
    "auth_method",
)
#: What decides who receives an OAuth2 client secret or refresh token: the mail
#: server (they end in a token it sees) and the token endpoint they are sent to.
OAUTH_DESTINATION_FIELDS = (
    *DESTINATION_FIELDS,
    "oauth_provider",
    "oauth_tenant",
    "oauth_token_endpoint",
    "oauth_client_id",
    "oauth_grant",
)

# Sealed payloads start with this; anything else is a secret stored before sealing.
_MARKER = "smtpconfig-sealed-v1:"


class SecretBoundElsewhere(SecretUnreadable):
    """The secret was entered for another server (or an older format that names none)."""


def destination_of(values: Mapping[str, Any]) -> str:
    """A digest of the destination fields in ``values`` (a profile's or a form's).

    Never raises, whatever the values: it only compares them.
    """
    host = str(values.get("host") or "").strip().removeprefix("[").removesuffix("]")
    canonical = {
        "host": host.lower().rstrip("."),
        # As text: an unvalidated value (a form's, before cleaning) must not raise here.
        "port": str(values.get("port") or "").strip(),
        "security": str(values.get("security") or ""),
        "allow_plaintext_auth": bool(values.get("allow_plaintext_auth")),
        "verify_certificate": bool(values.get("verify_certificate", True)),
        "ca": hashlib.sha256(
            str(values.get("ca_certificate") or "").strip().encode("utf-8")
        ).hexdigest(),
    }
    method = str(values.get("auth_method") or "password")
    if method != "password":
        # Only another method changes the digest: passwords sealed before the field existed
        # keep theirs.
        canonical["auth_method"] = method
    return _digest(canonical)


def oauth_destination_of(values: Mapping[str, Any]) -> str:
    """A digest of where an OAuth2 secret may go: the mail server and the token endpoint."""
    return _digest(
        {
            "smtp": destination_of(values),
            **{
                name: str(values.get(name) or "").strip().lower()
                for name in OAUTH_DESTINATION_FIELDS
                if name not in DESTINATION_FIELDS
            },
        }
    )


def _digest(canonical: dict) -> str:
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def destination_of_object(obj: Any) -> str:
    """:func:`destination_of` for an object with the destination fields as attributes."""
    return destination_of({name: getattr(obj, name, None) for name in DESTINATION_FIELDS})


def oauth_destination_of_object(obj: Any) -> str:
    """:func:`oauth_destination_of` for an object with the fields as attributes."""
    return oauth_destination_of(
        {name: getattr(obj, name, None) for name in OAUTH_DESTINATION_FIELDS}
    )


@sensitive_variables("secret", "payload")
def seal(secret: str, destination: str) -> str:
    """Encrypt ``secret`` for ``destination`` only."""
    payload = _MARKER + json.dumps({"to": destination, "secret": secret})
    return crypto.encrypt(payload)


def _open(token: str) -> tuple[str | None, str]:
    """(destination or None for an unsealed secret, secret)."""
    payload = crypto.decrypt(token)
    if not payload.startswith(_MARKER):
        return None, payload
    data = json.loads(payload.removeprefix(_MARKER))
    return data["to"], data["secret"]


@sensitive_variables("secret")
def unseal(token: str, destination: str) -> str:
    """The secret in ``token``, if it was sealed for ``destination``.

    Raises :class:`SecretBoundElsewhere` when it was sealed for another
    destination or not sealed at all, and :class:`SecretUnreadable` when no
    configured key opens it.
    """
    sealed_for, secret = _open(token)
    if sealed_for is None:
        raise SecretBoundElsewhere(
            _(
                "The stored password was saved by an older version that did not record "
                "which server it belongs to. Run 'python manage.py smtp_rotate_key', or "
                "type the password again."
            )
        )
    if sealed_for != destination:
        raise SecretBoundElsewhere(
            _(
                "The stored password was entered for another server: the server, port, "
                "SSL/TLS mode or certificate settings changed since. Type the password again "
                "to use it with these settings."
            )
        )
    return secret


def is_sealed_for(token: str, destination: str) -> bool:
    """Whether ``token`` opens and was sealed for ``destination``."""
    try:
        unseal(token, destination)
    except SMTPConfigImproperlyConfigured:  # unreadable, bound elsewhere, or no key
        return False
    return True


@sensitive_variables("secret")
def seal_legacy(token: str, destination: str) -> str | None:
    """``token`` sealed for ``destination`` if it is an unsealed (older) secret, else None.

    Used once, when upgrading, for the destination the profile has at that moment.
    """
    sealed_for, secret = _open(token)
    if sealed_for is not None:
        return None
    return seal(secret, destination)
