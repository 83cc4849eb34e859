"""Alerts to the administrators: what happened, and whether to tell them now.

Four kinds: a message **failed** for good, a message's fate is **unknown** (the
connection broke after it went out: a person must decide), a profile
**failed over** to the next one, and the queue is **backing up** (messages
have been due longer than ``OUTBOX_STALE_SECONDS``). The worker calls
:func:`message_failed`, the sweeper :func:`queue_backing_up`, and
:func:`failover_happened` listens to ``signals.failover`` (connected in the
app's ``ready()``), so a failover of the plain :class:`~smtpconfig.backends.EmailBackend`
is told too.

At most one alert per profile and kind every ``ALERT_INTERVAL`` seconds,
counted in the default cache (``cache.add`` is atomic in the database, Redis
and Memcached caches, so several workers send one alert between them); the
next one says how many were held back since. The channels
(:mod:`.alert_channels`): an email to ``ADMINS``, sent at once through a
profile other than the failing one, and the ``ALERT_WEBHOOK_URL``.

An alert carries what the delivery log keeps (profile, step, the error in the
diagnosis's words, Message-ID, recipients, subject), never a message's body
or a secret, and nothing here ever raises into a send: every failure is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from ..conf import get_setting

logger = logging.getLogger("smtpconfig")

FAILED = "failed"
UNKNOWN = "unknown"
FAILOVER = "failover"
BACKLOG = "backlog"

# How long a count of held-back alerts is kept waiting for the next alert to report it.
_HELD_BACK_SECONDS = 30 * 24 * 3600
# Recipients listed in an alert (the rest are counted).
_RECIPIENTS_SHOWN = 300

# Set while this context sends an alert: the alert's own email may fail over, and that
# must not raise another alert (nor the one after it).
_alerting: ContextVar[bool] = ContextVar("smtpconfig_alerting", default=False)


@dataclass(frozen=True)
class Alert:
    """One alert, as plain text fields (what the delivery log keeps; never a body)."""

    kind: str
    #: The profile concerned ("" for the queue as a whole).
    profile: str = ""
    server: str = ""
    next_profile: str = ""
    step: str = ""
    #: What went wrong, in the diagnosis's words.
    error: str = ""
    #: How many messages it is about.
    count: int = 1
    oldest_wait_seconds: float = 0.0
    message_id: str = ""
    recipients: str = ""
    subject: str = ""
    #: Alerts of the same profile and kind not sent since the last one, and since when.
    held_back: int = 0
    held_since: datetime | None = None

    def title(self) -> str:
        """One line: what happened (the email's subject, the chat message's first line)."""
        if self.kind == FAILED:
            return _("A message could not be sent through SMTP profile “%(profile)s”") % {
                "profile": self.profile or "?"
            }
        if self.kind == UNKNOWN:
            return _(
                "A message may or may not have been sent through SMTP profile “%(profile)s”"
            ) % {"profile": self.profile or "?"}
        if self.kind == FAILOVER:
            return _("SMTP profile “%(profile)s” failed; mail goes through “%(next)s”") % {
                "profile": self.profile,
                "next": self.next_profile,
            }
        return ngettext(
            "The outbox is backing up: %(count)d message waiting",
            "The outbox is backing up: %(count)d messages waiting",
            self.count,
        ) % {"count": self.count}

    def explanation(self) -> str:
        """What it means and what to do, in a sentence or two."""
        if self.kind == FAILED:
            return _(
                "The server refused it for good, so it is not tried again. Once the cause "
                "is fixed it can be sent again from the outbox."
            )
        if self.kind == UNKNOWN:
            return _(
                "The connection broke after the message went out: the server may have it. "
                "It is not sent again automatically; a person must decide whether to resend it."
            )
        if self.kind == FAILOVER:
            return _(
                "Mail is sent through the next profile while this one fails. Test the "
                "profile in the admin to see why."
            )
        minutes = int(self.oldest_wait_seconds // 60)
        return ngettext(
            "The oldest has been due for %(minutes)d minute. Check that a worker runs "
            "(python manage.py db_worker, or your task backend's) and that the profiles work.",
            "The oldest has been due for %(minutes)d minutes. Check that a worker runs "
            "(python manage.py db_worker, or your task backend's) and that the profiles work.",
            minutes,
        ) % {"minutes": minutes}

    def fields(self, link: str = "") -> list[tuple[str, str]]:
        """(label, value) pairs for what is known; empty values are left out."""
        profile = f"{self.profile} ({self.server})" if self.profile and self.server else ""
        pairs = [
            (_("Profile"), profile or self.profile),
            (_("Failed at step"), self.step),
            (_("Error"), self.error),
            (_("Messages"), str(self.count) if self.kind != FAILOVER else ""),
            (_("Message-ID"), self.message_id),
            (_("Recipients"), _shorten(self.recipients, _RECIPIENTS_SHOWN)),
            (pgettext("email header", "Subject"), self.subject),
            (_("In the admin"), link),
        ]
        return [(label, value) for label, value in pairs if value]

    def held_back_note(self) -> str:
        """How many alerts like this one were held back since the last ('' when none)."""
        if not self.held_back:
            return ""
        since = (
            timezone.localtime(self.held_since).strftime("%Y-%m-%d %H:%M %Z")
            if self.held_since
            else "?"
        )
        return ngettext(
            "%(count)d more alert like this since %(since)s was not sent (at most one "
            "per profile and kind every %(interval)s seconds).",
            "%(count)d more alerts like this since %(since)s were not sent (at most one "
            "per profile and kind every %(interval)s seconds).",
            self.held_back,
        ) % {
            "count": self.held_back,
            "since": since,
            "interval": get_setting("ALERT_INTERVAL"),
        }

    def text(self, link: str = "") -> str:
        """The plain-text alert: title, explanation, the fields, the held-back note."""
        lines = [self.title(), "", self.explanation(), ""]
        lines += [f"{label}: {_one_line(value)}" for label, value in self.fields(link)]
        note = self.held_back_note()
        if note:
            lines += ["", note]
        return "\n".join(lines) + "\n"


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def _shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# When: one alert per profile and kind per ALERT_INTERVAL.


class _LocalTurns:
    """The throttle in this process alone, for when the cache does not answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.until: dict[str, float] = {}

    def take(self, key: str, interval: float) -> bool:
        now = time.monotonic()
        with self.lock:
            if self.until.get(key, 0.0) > now:
                return False
            self.until[key] = now + interval
            return True


_local_turns = _LocalTurns()


def _throttle_key(kind: str, profile: str) -> str:
    # A digest: a profile's name may hold spaces and any letter, which some caches refuse.
    digest = hashlib.sha256(profile.encode("utf-8")).hexdigest()[:16]
    return f"smtpconfig:alert:{kind}:{digest}"


def _take_turn(alert: Alert) -> Alert | None:
    """``alert`` with the held-back count, when it may be sent now; None when held back."""
    interval = float(get_setting("ALERT_INTERVAL") or 0)
    if interval <= 0:
        return alert
    key = _throttle_key(alert.kind, alert.profile)
    held_key, since_key = f"{key}:held", f"{key}:since"
    try:
        if cache.add(key, True, timeout=interval):
            held = cache.get_many([held_key, since_key])
            cache.delete_many([held_key, since_key])
            return replace(
                alert, held_back=int(held.get(held_key) or 0), held_since=held.get(since_key)
            )
        cache.add(since_key, timezone.now(), timeout=_HELD_BACK_SECONDS)
        cache.add(held_key, 0, timeout=_HELD_BACK_SECONDS)
        with contextlib.suppress(ValueError):  # the count expired in between
            cache.incr(held_key)
        return None
    except Exception as exc:  # noqa: BLE001 - a cache outage must not silence every alert
        logger.warning(
            "Could not use the default cache to space out alerts (%s: %s); "
            "this process spaces them out alone.",
            type(exc).__name__,
            exc,
        )
        return alert if _local_turns.take(key, interval) else None


# Raising an alert.


def _channels_configured() -> bool:
    return bool(settings.ADMINS) or bool(get_setting("ALERT_WEBHOOK_URL"))


def raise_alert(alert: Alert) -> None:
    """Send ``alert`` by every configured channel, unless one like it went out lately.

    Never raises. Does nothing while this context is sending an alert already.
    """
    if _alerting.get():
        return
    token = _alerting.set(True)
    try:
        if not _channels_configured():
            return
        turn = _take_turn(alert)
        if turn is None:
            logger.info(
                "Alert held back (one per profile and kind every ALERT_INTERVAL): %s",
                alert.kind,
            )
            return
        from . import alert_channels

        with translation.override(settings.LANGUAGE_CODE):
            alert_channels.send(turn)
    except Exception:  # noqa: BLE001 - an alert must never fail a delivery
        logger.exception("Could not send an alert about the outgoing mail.")
    finally:
        _alerting.reset(token)


def _server_of(profile_name: str) -> str:
    from ..delivery.profiles import enabled_profiles

    for profile in enabled_profiles():
        if profile.name == profile_name:
            return profile.server
    return ""


def message_failed(row, result) -> None:
    """A queued message failed for good or ended unknown (called by the worker)."""
    try:
        profile = result.profile_name or row.profile_name or row.requested_profile
        alert = Alert(
            kind=UNKNOWN if result.state == UNKNOWN else FAILED,
            profile=profile,
            server=_server_of(profile) if profile else "",
            step=result.step,
            error=result.error,
            message_id=row.message_id,
            recipients=row.recipients,
            subject=row.subject,
        )
    except Exception:  # noqa: BLE001 - an alert must never fail a delivery
        logger.exception("Could not describe a failed message for an alert.")
        return
    raise_alert(alert)


def queue_backing_up(waiting: int, oldest_age_seconds: float) -> None:
    """Messages have waited longer than OUTBOX_STALE_SECONDS (called by the sweeper)."""
    raise_alert(Alert(kind=BACKLOG, count=waiting, oldest_wait_seconds=oldest_age_seconds))


def failover_happened(
    sender, failed_profile, next_profile, error, message=None, step="", server="", **kwargs
) -> None:
    """Receiver of ``signals.failover``: a profile failed and the next one is tried."""
    if _alerting.get():
        return  # the alert's own email failing over
    try:
        alert = Alert(
            kind=FAILOVER,
            profile=str(failed_profile),
            server=str(server),
            next_profile=str(next_profile),
            step=str(step),
            error=str(error),
            **(_message_fields(message) if message is not None else {}),
        )
    except Exception:  # noqa: BLE001 - an alert must never fail a delivery
        logger.exception("Could not describe a failover for an alert.")
        return
    raise_alert(alert)


def _message_fields(message) -> dict:
    """What the delivery log keeps of an EmailMessage: its Message-ID, recipients, subject."""
    message_id = next(
        (
            str(value)
            for name, value in (message.extra_headers or {}).items()
            if name.lower() == "message-id"
        ),
        "",
    )
    return {
        "message_id": message_id,
        "recipients": ", ".join(str(address) for address in message.recipients()),
        "subject": str(message.subject or ""),
    }
