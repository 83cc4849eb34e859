"""Warnings worth a banner on the profile list and a profile's page."""

from __future__ import annotations

from django.contrib import messages
from django.utils.translation import gettext as _

from ..models import Security


def profile_banners(profiles, *, single: bool = False) -> list[tuple[int, str]]:
    """Warnings worth a banner: no default, a failing default, unverified TLS, lost passwords."""
    banners = []
    profiles = list(profiles)
    if not single:
        default = next((p for p in profiles if p.is_default and p.enabled), None)
        if not profiles:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "No SMTP profile yet: the site's mail goes out through Django's EMAIL_* "
                        "settings. Add a profile and make it the default."
                    ),
                )
            )
        elif default is None:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "No enabled profile is the default: mail goes through the first "
                        "enabled profile, or Django's EMAIL_* settings if none is enabled. "
                        "Tick “default” on the profile the site should use."
                    ),
                )
            )
        elif default.last_test_ok is False:
            banners.append(
                (
                    messages.ERROR,
                    _(
                        "The last test of the default profile “%(name)s” failed: the site's "
                        "mail may not be going out. Open it to see why."
                    )
                    % {"name": default.name},
                )
            )
    for profile in profiles:
        if not profile.verify_certificate and profile.security != Security.NONE:
            banners.append(
                (
                    messages.WARNING,
                    _(
                        "Certificate verification is off for “%(name)s”: the connection can be "
                        "intercepted. Turn it on, or paste the server's CA certificate instead."
                    )
                    % {"name": profile.name},
                )
            )
        if profile.password_unreadable:
            banners.append(
                (
                    messages.ERROR,
                    _(
                        "The stored password of “%(name)s” cannot be decrypted with the configured "
                        "encryption key: type it again (or restore the old key)."
                    )
                    % {"name": profile.name},
                )
            )
    return banners
