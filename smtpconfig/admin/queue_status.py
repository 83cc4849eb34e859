"""The outbox at a glance, for the admin index and the profile list: what waits, what was
deferred or failed, and the banner when no worker seems to be running.

The counts are one grouped query over the messages that are not sent (the index on
``state`` reads only those), whatever the number of profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..conf import get_setting
from ..models import OutboxMessage, OutboxState
from ..outbox.sweep import waiting_for_worker

#: The list filter's values for messages not yet tried or being sent (queued or sending),
#: and for messages that need a person (failed or unknown).
WAITING = "waiting"
FAILED_OR_UNKNOWN = "failed_or_unknown"
_COUNTED = (
    OutboxState.QUEUED,
    OutboxState.SENDING,
    OutboxState.DEFERRED,
    OutboxState.FAILED,
    OutboxState.UNKNOWN,
)


@dataclass
class OutboxCounts:
    """Messages in the outbox by what they wait for, and failures per profile."""

    waiting: int = 0
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    #: Failed and unknown messages by the primary key of the profile tried last.
    failed_by_profile: dict[int, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.waiting or self.deferred or self.failed or self.unknown)


def outbox_counts(request=None) -> OutboxCounts:
    """The outbox's :class:`OutboxCounts`, in one query (once per ``request``)."""
    if request is not None and hasattr(request, "_smtpconfig_outbox_counts"):
        return request._smtpconfig_outbox_counts
    counts = OutboxCounts()
    rows = (
        OutboxMessage.objects.filter(state__in=_COUNTED)
        .values_list("state", "profile")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for state, profile, count in rows:
        if state in (OutboxState.QUEUED, OutboxState.SENDING):
            counts.waiting += count
        elif state == OutboxState.DEFERRED:
            counts.deferred += count
        else:
            if state == OutboxState.FAILED:
                counts.failed += count
            else:
                counts.unknown += count
            if profile is not None:
                counts.failed_by_profile[profile] = counts.failed_by_profile.get(profile, 0) + count
    if request is not None:
        request._smtpconfig_outbox_counts = counts
    return counts


def outbox_url(request, site_name: str = "admin", **filters) -> str:
    """The outbox list (with ``filters``), for a user who may see it ("" otherwise)."""
    if not request.user.has_perm("smtpconfig.view_outboxmessage"):
        return ""
    try:
        url = reverse(f"{site_name}:smtpconfig_outboxmessage_changelist")
    except NoReverseMatch:
        return ""
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"{url}?{query}" if query else url


def count_links(counts: OutboxCounts, request, site_name: str = "admin") -> list[tuple]:
    """Each non-zero count as (CSS class, text, link to the list filtered by it)."""
    figures = [
        (
            "waiting",
            counts.waiting,
            ngettext("%(count)d waiting", "%(count)d waiting", counts.waiting),
            WAITING,
        ),
        (
            "deferred",
            counts.deferred,
            ngettext("%(count)d deferred", "%(count)d deferred", counts.deferred),
            OutboxState.DEFERRED.value,
        ),
        (
            "failed",
            counts.failed,
            ngettext("%(count)d failed", "%(count)d failed", counts.failed),
            OutboxState.FAILED.value,
        ),
        (
            "failed",
            counts.unknown,
            ngettext(
                "%(count)d unknown (may have been sent)",
                "%(count)d unknown (may have been sent)",
                counts.unknown,
            ),
            OutboxState.UNKNOWN.value,
        ),
    ]
    return [
        (css, text % {"count": count}, outbox_url(request, site_name, state=state))
        for css, count, text, state in figures
        if count
    ]


def counts_html(counts: OutboxCounts, request, site_name: str = "admin") -> str:
    """The counts as one line of links ("" when the outbox has nothing pending or failed)."""
    parts = []
    for css, text, url in count_links(counts, request, site_name):
        if url:
            parts.append(
                format_html(
                    '<a class="smtpconfig-outbox-count smtpconfig-{}" href="{}">{}</a>',
                    css,
                    url,
                    text,
                )
            )
        else:
            parts.append(
                format_html(
                    '<span class="smtpconfig-outbox-count smtpconfig-{}">{}</span>', css, text
                )
            )
    if not parts:
        return ""
    return format_html(
        '<p class="smtpconfig-outbox-counts">{} {}</p>',
        _("Outbox:"),
        format_html(", ".join(["{}"] * len(parts)), *parts),
    )


def _uses_database_worker() -> bool:
    """Whether the outbox's task backend is django-tasks-db's (its worker is ``db_worker``)."""
    try:
        try:
            from django.tasks import task_backends
        except ImportError:
            from django_tasks import task_backends
        backend = task_backends[get_setting("TASK_BACKEND")]
    except Exception:  # noqa: BLE001 - a misconfigured backend: say the generic thing
        return False
    return type(backend).__name__ == "DatabaseBackend"


def worker_banner(request=None, site_name: str = "admin") -> tuple[int, str] | None:
    """A warning when messages have been due longer than OUTBOX_STALE_SECONDS (None if not)."""
    count, seconds = waiting_for_worker()
    if not count or seconds <= float(get_setting("OUTBOX_STALE_SECONDS")):
        return None
    minutes = max(1, int(seconds // 60))
    text = ngettext(
        "%(count)d message has waited %(wait)s: no worker seems to be running.",
        "%(count)d messages have waited %(wait)s: no worker seems to be running.",
        count,
    ) % {
        "count": count,
        "wait": ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes},
    }
    if _uses_database_worker():
        how = format_html(
            _("Start one with {command} (with {make} it starts by itself)."),
            command=format_html("<code>{}</code>", "python manage.py db_worker"),
            make=format_html("<code>{}</code>", "make run"),
        )
    else:
        how = _("Start your task workers.")
    text = format_html("{} {}", text, how)
    url = outbox_url(request, site_name, state=WAITING) if request is not None else ""
    if url:
        text = format_html('{} <a href="{}">{}</a>', text, url, _("See the outbox"))
    return messages.WARNING, text
