"""Which profiles still sign in with a password where Microsoft is switching it off.

Microsoft 365 turns password (Basic) sign-in for SMTP AUTH off by default for
existing tenants at the end of December 2026; Outlook.com ended it for
third-party apps in September 2024. A profile that sends through either with
a password is named, with what happens and what to do: sign in with OAuth2.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..transport.settings import LoginMethod
from .presets import preset_for_host

_MICROSOFT_PRESETS = ("microsoft365", "outlook")


def password_sign_in_ending(profile) -> str:
    """Why ``profile`` must move to OAuth2 ('' when it need not)."""
    if not profile.enabled or profile.auth_method != LoginMethod.PASSWORD:
        return ""
    if not profile.username:
        return ""
    preset = preset_for_host(profile.host)
    if preset is None or preset.key not in _MICROSOFT_PRESETS:
        return ""
    if preset.key == "outlook":
        return _(
            "“%(name)s” signs in to Outlook.com with a password, which Outlook.com no longer "
            "accepts for other apps (since September 2024). Switch it to OAuth2."
        ) % {"name": profile.name}
    return _(
        "“%(name)s” signs in to Microsoft 365 with a password: Microsoft turns password "
        "sign-in for SMTP off by default at the end of December 2026 (tenants created after "
        "that have OAuth2 only). Switch it to OAuth2 before then."
    ) % {"name": profile.name}


def profiles_to_switch(profiles) -> list[tuple[object, str]]:
    """(profile, why) for each of ``profiles`` that must move to OAuth2."""
    found = []
    for profile in profiles:
        why = password_sign_in_ending(profile)
        if why:
            found.append((profile, why))
    return found
