"""Which profiles still sign in with a password where Microsoft is switching it off.

Microsoft 365 turns password (Basic) sign-in for SMTP AUTH off by default for
existing tenants at the end of December 2026; Outlook.com ended it for
third-party apps in September 2024. A profile that sends through either with
a password is named, with what happens and what to do: sign in with OAuth2.

A profile is on Microsoft's servers when its host is one of theirs
(``smtp.office365.com``), or when its host is the domain's own name
(``mail.contoso.com``) and that domain's mail is Microsoft's: an Outlook.com
domain, or MX records under ``*.mail.protection.outlook.com`` (Microsoft 365)
or ``*.olc.protection.outlook.com`` (Outlook.com). The admin's banners ask on
every page, so the MX verdict is cached per domain, and a DNS failure only
means the profile is not named.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.utils.translation import gettext as _

from ..exceptions import SMTPConfigImproperlyConfigured
from ..transport.resolver import lookup, make_resolver
from ..transport.settings import LoginMethod
from .presets import preset_for_address, preset_for_host, preset_for_mx

_MICROSOFT_PRESETS = ("microsoft365", "outlook")

#: How long a domain's MX verdict is kept; a failed look-up is asked again sooner.
MX_CACHE_SECONDS = 60 * 60
MX_FAILURE_CACHE_SECONDS = 5 * 60
#: The cached value for "answered, and not Microsoft's" (the cache's None means "not cached").
_NOT_MICROSOFT = ""


def password_sign_in_ending(profile) -> str:
    """Why ``profile`` must move to OAuth2 ('' when it need not)."""
    if not profile.enabled or profile.auth_method != LoginMethod.PASSWORD:
        return ""
    if not profile.username:
        return ""
    service, domain = microsoft_service(profile)
    if service == "outlook":
        why = _(
            "“%(name)s” signs in to Outlook.com with a password, which Outlook.com no longer "
            "accepts for other apps (since September 2024). Switch it to OAuth2."
        ) % {"name": profile.name}
    elif service == "microsoft365":
        why = _(
            "“%(name)s” signs in to Microsoft 365 with a password: Microsoft turns password "
            "sign-in for SMTP off by default at the end of December 2026 (tenants created after "
            "that have OAuth2 only). Switch it to OAuth2 before then."
        ) % {"name": profile.name}
    else:
        return ""
    if domain:
        why += " " + _(
            "(Its server %(host)s belongs to %(domain)s, whose mail Microsoft hosts.)"
        ) % {"host": profile.host, "domain": domain}
    return why


def profiles_to_switch(profiles) -> list[tuple[object, str]]:
    """(profile, why) for each of ``profiles`` that must move to OAuth2."""
    found = []
    for profile in profiles:
        why = password_sign_in_ending(profile)
        if why:
            found.append((profile, why))
    return found


def microsoft_service(profile) -> tuple[str, str]:
    """("microsoft365" | "outlook" | "", the domain that told) for ``profile``'s server.

    The domain is "" when the host itself is Microsoft's. Never raises for DNS.
    """
    preset = preset_for_host(profile.host)
    if preset is not None:  # a known provider's server: no need to ask DNS
        return (preset.key if preset.key in _MICROSOFT_PRESETS else ""), ""
    for domain in _own_domains(profile):
        key = _domain_service(domain)
        if key:
            return key, domain
    return "", ""


def _own_domains(profile) -> list[str]:
    """The sender's and the user name's domains whose own name the host is."""
    host = profile.host.strip().lower().rstrip(".")
    domains = []
    for address in (profile.from_email, profile.username):
        domain = (address or "").rpartition("@")[2].strip().lower().rstrip(".")
        if domain and domain not in domains and (host == domain or host.endswith("." + domain)):
            domains.append(domain)
    return domains


def _domain_service(domain: str) -> str:
    """Whose mail ``domain`` is, of Microsoft's services ('' for no one's or unknown)."""
    preset = preset_for_address(domain)  # outlook.com, hotmail.com…: no need to ask DNS
    if preset is not None:
        return preset.key if preset.key in _MICROSOFT_PRESETS else ""
    key = mx_cache_key(domain)
    cached = cache.get(key)
    if cached is not None:
        return cached
    service, answered = _mx_service(domain)
    cache.set(key, service, MX_CACHE_SECONDS if answered else MX_FAILURE_CACHE_SECONDS)
    return service


def mx_cache_key(domain: str) -> str:
    """The cache key of ``domain``'s MX verdict (delete it to ask DNS again at once)."""
    # Hashed: a key made of raw input could hold spaces or be too long for memcached.
    digest = hashlib.sha256(domain.lower().encode("utf-8", "replace")).hexdigest()
    return f"smtpconfig:mx-service:{digest}"


def _mx_service(domain: str) -> tuple[str, bool]:
    """(the Microsoft service the MX records point at or '', whether DNS answered)."""
    try:
        name = domain.encode("idna").decode("ascii")
        resolver = make_resolver()
    except (UnicodeError, SMTPConfigImproperlyConfigured):
        return _NOT_MICROSOFT, False
    answer = lookup(resolver, name, "MX")
    for record in answer.records:
        exchange = record.split()[-1]
        preset = preset_for_mx(exchange)
        if preset is not None and preset.key in _MICROSOFT_PRESETS:
            return preset.key, True
    return _NOT_MICROSOFT, answer.answered
