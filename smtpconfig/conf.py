"""The ``SMTPCONFIG`` settings dict: every option and its default in one place.

Options are read at call time through :func:`get_setting`, never at import
time, so ``override_settings`` and per-process changes take effect at once.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

from .exceptions import SMTPConfigImproperlyConfigured

#: Environment variable read when ``SMTPCONFIG["ENCRYPTION_KEYS"]`` is not set.
ENCRYPTION_KEYS_ENV = "SMTPCONFIG_ENCRYPTION_KEYS"


def _keys_from_environment() -> list[str]:
    raw = os.environ.get(ENCRYPTION_KEYS_ENV, "")
    return [key.strip() for key in raw.split(",") if key.strip()]


# Each default is either a value or a callable that computes it at call time.
DEFAULTS: dict[str, Any] = {
    # Fernet keys, newest first: the first encrypts, every one decrypts.
    "ENCRYPTION_KEYS": _keys_from_environment,
    # Seconds a profile's timeout defaults to on a new profile.
    "DEFAULT_TIMEOUT": 10,
    # Subject of the test email (``{site}`` and ``{profile}`` are filled in).
    "TEST_EMAIL_SUBJECT": None,
}


def get_setting(name: str) -> Any:
    """Return the value of ``SMTPCONFIG[name]``, or its default.

    Raises :class:`SMTPConfigImproperlyConfigured` for a name that is not an
    option, so that a typo fails loudly instead of reading a default.
    """
    if name not in DEFAULTS:
        raise SMTPConfigImproperlyConfigured(f"Unknown SMTPCONFIG option {name!r}.")
    user_settings = getattr(settings, "SMTPCONFIG", None) or {}
    if not isinstance(user_settings, dict):
        raise SMTPConfigImproperlyConfigured("The SMTPCONFIG setting must be a dict.")
    if name in user_settings:
        return user_settings[name]
    default = DEFAULTS[name]
    return default() if callable(default) else default


def unknown_options() -> list[str]:
    """Names in ``settings.SMTPCONFIG`` that are not options (for the system checks)."""
    user_settings = getattr(settings, "SMTPCONFIG", None) or {}
    if not isinstance(user_settings, dict):
        return []
    return sorted(set(user_settings) - set(DEFAULTS))
