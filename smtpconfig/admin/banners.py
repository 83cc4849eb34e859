"""Warnings worth a banner on the profile list and a profile's page."""

from __future__ import annotations

from django.contrib import messages
from django.template.defaultfilters import date as date_filter
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import DeliveryOutcome, Security
from .health import MailFailing


def profile_banners(
    profiles, *, single: bool = False, health: dict | None = None
) -> list[tuple[int, str]]:
    """Warnings worth a banner: no default, a failing default, unverified TLS, lost passwords.

    With ``health`` (``health.sending_health``), a default whose last test failed
    but which has sent mail since has no banner: the deliveries are the newer news.
    """
    banners = []
    profiles = list(profiles)
    health = health or {}
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
        elif default.last_test_ok is False and not (
            default.pk in health and health[default.pk].sent_since(default.last_test_at)
        ):
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


def delivery_log_url(request, site_name: str = "admin") -> str:
    """The delivery log's failed deliveries, for a user who may see the log ("" otherwise)."""
    if not request.user.has_perm("smtpconfig.view_deliverylog"):
        return ""
    try:
        url = reverse(f"{site_name}:smtpconfig_deliverylog_changelist")
    except NoReverseMatch:
        return ""
    return f"{url}?outcome__exact={DeliveryOutcome.FAILED}"


def failing_banner(failing: MailFailing, log_url: str = "") -> tuple[int, str]:
    """The banner for mail that could not be sent through any profile, with a link to the
    failed deliveries in the log at ``log_url``."""
    text = ngettext(
        "The site's mail is failing: the last message (%(time)s) could not be sent through "
        "any profile: %(reason)s",
        "The site's mail is failing: the last %(count)d messages (the latest %(time)s) could "
        "not be sent through any profile: %(reason)s",
        failing.count,
    ) % {
        "count": failing.count,
        "time": date_filter(timezone.localtime(failing.last_at), "SHORT_DATETIME_FORMAT"),
        "reason": _reason(failing.reason),
    }
    if log_url:
        text = format_html('{} <a href="{}">{}</a>', text, log_url, _("See the delivery log"))
    return messages.ERROR, text


def _reason(reply: str) -> str:
    reply = " ".join(reply.split())[:300] or _("no reason recorded.")
    return reply if reply.endswith((".", "!", "?")) else reply + "."
