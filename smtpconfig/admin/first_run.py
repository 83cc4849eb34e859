"""The guided start shown while no profile exists: a path into the add form, not 20 fields."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from ..providers.presets import PRESETS
from .views import DETECT

#: The providers offered first; the others are one click further ("More providers").
POPULAR = ("gmail", "microsoft365", "outlook", "sendgrid", "mailgun", "ses")


def preset_link(add_url: str, preset) -> str:
    """The add page with ``preset``'s server and sign-in already filled in (with or without
    JavaScript: Django's add view takes initial values from the query string)."""
    values = {"preset": preset.key}
    if preset.host:
        values.update(host=preset.host, port=preset.port, security=str(preset.security))
    values.update(preset.sign_in())
    return f"{add_url}?{urlencode(values)}"


def first_run(request, profiles, site_name: str = "admin") -> dict | None:
    """What the guide needs, or None once a profile exists (or for a user who may not add one)."""
    if profiles:
        return None
    if not request.user.has_perm("smtpconfig.add_smtpprofile"):
        return {"can_add": False}
    try:
        add_url = reverse(f"{site_name}:smtpconfig_smtpprofile_add")
        detect_url = reverse(f"{site_name}:smtpconfig_smtpprofile_add_detect")
    except NoReverseMatch:  # a site without the profile admin
        return None
    providers = [
        {"key": p.key, "label": p.label, "url": preset_link(add_url, p)}
        for p in PRESETS
        if p.key != "other"
    ]
    return {
        "can_add": True,
        "popular": [p for p in providers if p["key"] in POPULAR],
        "more": [p for p in providers if p["key"] not in POPULAR],
        "add_url": add_url,
        "detect_url": detect_url,
        "detect_button": DETECT,
    }
