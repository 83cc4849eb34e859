"""Encryption of stored secrets with keys that live outside the database.

Secrets are encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package). Keys come from ``SMTPCONFIG["ENCRYPTION_KEYS"]``
(by default the comma-separated environment variable
``SMTPCONFIG_ENCRYPTION_KEYS``): the first key encrypts, every key decrypts,
which is what makes key rotation possible.

Nothing here ever puts a secret or a key into an exception message, and every
function that holds a key or a secret in a local variable is marked with
``sensitive_variables`` so that Django's error reports do not show it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from .conf import ENCRYPTION_KEYS_ENV, get_setting
from .exceptions import EncryptionKeyMissing, InvalidEncryptionKey, SecretUnreadable


def generate_key() -> str:
    """Return a new random Fernet key as text."""
    return Fernet.generate_key().decode("ascii")


@sensitive_variables("keys")
def configured_keys() -> list[str]:
    """Return the configured keys, newest first (possibly an empty list)."""
    keys = get_setting("ENCRYPTION_KEYS")
    if isinstance(keys, str):
        keys = keys.split(",")
    return [str(key).strip() for key in keys or () if str(key).strip()]


@functools.lru_cache(maxsize=8)
@sensitive_variables("keys", "key", "fernets")
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Say which key is wrong by its position, never by its value.
            raise InvalidEncryptionKey(
                _(
                    "Encryption key number %(position)d in SMTPCONFIG['ENCRYPTION_KEYS'] "
                    "is not a valid Fernet key (32 url-safe base64-encoded bytes). "
                    "Make one with: python manage.py smtp_generate_key"
                )
                % {"position": position}
            ) from None
    return MultiFernet(fernets)


@sensitive_variables("keys")
def _fernet() -> MultiFernet:
    keys = tuple(configured_keys())
    if not keys:
        raise EncryptionKeyMissing(
            _(
                "No encryption key is configured for stored SMTP passwords. Make one with "
                "'python manage.py smtp_generate_key' and set it in the environment variable "
                "%(env)s or in SMTPCONFIG['ENCRYPTION_KEYS']."
            )
            % {"env": ENCRYPTION_KEYS_ENV}
        )
    return _fernet_for(keys)


def load_keys() -> None:
    """Load the configured keys, or raise :class:`EncryptionKeyMissing` (none) or
    :class:`InvalidEncryptionKey` (one is not a Fernet key, named by its position)."""
    _fernet()


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first configured key; return the token as text."""
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


@sensitive_variables()
def decrypt(token: str) -> str:
    """Decrypt a token made by :func:`encrypt` with any configured key.

    Raises :class:`SecretUnreadable` when no configured key opens it.
    """
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(
            _(
                "The stored password cannot be decrypted with the configured encryption "
                "keys (the key was changed or lost). Type the password again."
            )
        ) from None


@sensitive_variables("keys")
def is_current(token: str) -> bool:
    """Whether ``token`` is encrypted with the first (current) key."""
    keys = configured_keys()
    if not keys:
        return False
    try:
        Fernet(keys[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError, UnicodeError):
        return False
    return True


@sensitive_variables("data")
def encrypt_bytes(data: bytes) -> str:
    """Encrypt ``data`` (a queued message, say) with the first key; return the token as text."""
    return _fernet().encrypt(data).decode("ascii")


@sensitive_variables()
def decrypt_bytes(token: str) -> bytes:
    """Decrypt a token made by :func:`encrypt_bytes`; raise :class:`SecretUnreadable` if no key
    opens it."""
    try:
        return _fernet().decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError, UnicodeError):
        raise SecretUnreadable(
            _(
                "A stored message cannot be decrypted with the configured encryption keys "
                "(the key was changed or lost)."
            )
        ) from None


def rotate(token: str) -> str:
    """``token`` re-encrypted with the first key (decrypted with any configured key).

    Raises :class:`SecretUnreadable` when no configured key opens it.
    """
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError, UnicodeError):
        raise SecretUnreadable(
            _("A stored password cannot be decrypted with any configured key.")
        ) from None


def can_decrypt(token: str) -> bool:
    """Whether a configured key opens ``token`` (False also when no key is set)."""
    try:
        decrypt(token)
    except (SecretUnreadable, EncryptionKeyMissing, InvalidEncryptionKey):
        return False
    return True


def write_key_file(path: Path) -> bool:
    """Create ``path`` holding a new key, readable by its owner only.

    Returns False, changing nothing, when the file already exists: an
    existing key is never overwritten, since the secrets it encrypts would
    become unreadable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(generate_key() + "\n")
    return True
