"""Where alerts go: an email to ``ADMINS`` and a Slack-compatible webhook.

The email is sent at once through :class:`~smtpconfig.backends.EmailBackend`
(never through the outbox, whatever ``EMAIL_BACKEND`` says: an alert must not
wait in the queue it is about), through the first enabled profile other than
the one that failed, with failover so that the failing one is still tried
last when there is no other. The webhook is posted through the app's network
policy (:mod:`smtpconfig.transport.http_post`), ``https://`` only unless
``ALERT_WEBHOOK_ALLOW_HTTP``, within a few seconds. Each channel logs its own
failure and never raises; the webhook's URL (a secret at most chat services)
is never logged, only its host.
"""

from __future__ import annotations

import json
import logging
import urllib.parse

from django.conf import global_settings, settings
from django.core.mail import EmailMessage
from django.urls import NoReverseMatch, reverse

from ..conf import get_setting
from ..transport import http_post
from ..transport.steps import describe_error
from .alerts import Alert

logger = logging.getLogger("smtpconfig")

#: Seconds the webhook's server has for each wait (connect, send, answer).
WEBHOOK_TIMEOUT = 5.0
_WEBHOOK_ANSWER_BYTES = 4096


def send(alert: Alert) -> None:
    """Send ``alert`` by email to ``ADMINS`` and to ``ALERT_WEBHOOK_URL``, as configured."""
    link = admin_link()
    if settings.ADMINS:
        send_email(alert, link)
    if get_setting("ALERT_WEBHOOK_URL"):
        post_webhook(alert, link)


def admin_link() -> str:
    """The outbox's page in the admin (the delivery log's while there is none): an absolute
    URL with ``OAUTH_REDIRECT_BASE`` (the site's public address), else its path."""
    for name in (
        "admin:smtpconfig_outboxmessage_changelist",
        "admin:smtpconfig_deliverylog_changelist",
    ):
        try:
            path = reverse(name)
        except NoReverseMatch:
            continue
        base = str(get_setting("OAUTH_REDIRECT_BASE") or "").rstrip("/")
        return f"{base}{path}" if base else path
    return ""


# Email.


def _admin_addresses() -> list[str]:
    # Django 5.2 wants (name, address) pairs; Django 6.0 also takes plain addresses.
    return [
        entry[1] if isinstance(entry, (list, tuple)) else str(entry) for entry in settings.ADMINS
    ]


def _alert_sender() -> str:
    """SERVER_EMAIL as Django's mail_admins uses it; while it is Django's placeholder
    (root@localhost), DEFAULT_FROM_EMAIL, which the profile replaces with its own sender."""
    if settings.SERVER_EMAIL != global_settings.SERVER_EMAIL:
        return settings.SERVER_EMAIL
    return settings.DEFAULT_FROM_EMAIL


def _backend_avoiding(profile_name: str):
    """A backend that goes through the first enabled profile other than ``profile_name``,
    falling back to the others (``profile_name`` last) when that one fails too."""
    from ..backends import EmailBackend
    from ..delivery.profiles import enabled_profiles

    profiles = enabled_profiles()
    others = [profile for profile in profiles if profile.name != profile_name]
    first = others[0] if others else (profiles[0] if profiles else None)
    if first is None:
        return EmailBackend()  # no profile: Django's EMAIL_* settings
    return EmailBackend(profile=first.name, failover=True)


def send_email(alert: Alert, link: str = "") -> bool:
    """Email ``alert`` to ``ADMINS`` now; False (and a warning logged) when it could not."""
    try:
        message = EmailMessage(
            subject=f"{settings.EMAIL_SUBJECT_PREFIX}{alert.title()}",
            body=alert.text(link),
            from_email=_alert_sender(),
            to=_admin_addresses(),
        )
        sent = _backend_avoiding(alert.profile).send_messages([message])
    except Exception as exc:  # noqa: BLE001 - an alert must never fail a delivery
        logger.warning(
            "Could not email an alert to ADMINS (%s): %s", alert.kind, describe_error(exc)
        )
        return False
    return bool(sent)


# Webhook.


def _slack_escape(text: str) -> str:
    # Slack reads <…> as a link or a mention and & as the start of an entity.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(alert: Alert, link: str = "") -> dict:
    """The JSON posted: Slack's ``{"text": ...}`` (also read by Mattermost, Rocket.Chat and
    Discord's ``/slack`` endpoints), the title in bold."""
    title, _blank, rest = alert.text(link).partition("\n")
    return {"text": f"*{_slack_escape(title)}*\n{_slack_escape(rest.strip())}"}


def webhook_allowed(url: str) -> bool:
    """Whether alerts may be posted to ``url``: https://, or http:// with
    ``ALERT_WEBHOOK_ALLOW_HTTP``."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (
        parts.scheme == "http" and bool(get_setting("ALERT_WEBHOOK_ALLOW_HTTP"))
    )


def post_webhook(alert: Alert, link: str = "") -> bool:
    """Post ``alert`` to ``ALERT_WEBHOOK_URL``; False (and a warning logged) when it could not."""
    url = str(get_setting("ALERT_WEBHOOK_URL") or "")
    host = urllib.parse.urlsplit(url).hostname or "?"
    if not webhook_allowed(url):
        logger.warning(
            "ALERT_WEBHOOK_URL must be an https:// URL (http:// only with "
            "ALERT_WEBHOOK_ALLOW_HTTP); the alert was not posted."
        )
        return False
    try:
        body = json.dumps(webhook_payload(alert, link)).encode("utf-8")
        status, _answer = http_post.post(
            url,
            body,
            {"Content-Type": "application/json"},
            WEBHOOK_TIMEOUT,
            max_response_bytes=_WEBHOOK_ANSWER_BYTES,
        )
    except Exception as exc:  # noqa: BLE001 - an alert must never fail a delivery
        logger.warning(
            "Could not post an alert to the webhook at %s (%s): %s",
            host,
            alert.kind,
            describe_error(exc),
        )
        return False
    if not 200 <= status < 300:
        logger.warning(
            "The webhook at %s answered HTTP %s to an alert (%s).", host, status, alert.kind
        )
        return False
    return True
