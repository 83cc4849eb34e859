"""Each profile's real sending health, from the delivery log, for the list and the index.

A test says what a profile did once; the delivery log says what the site's mail
is doing now. Both questions are answered with a fixed number of queries per
page, whatever the number of profiles, and each reads only the recent end of
the log through an index: (profile, created_at) for each profile's deliveries,
(outcome, created_at) for the failures, (created_at, id) for the latest rows.
Rows of a deleted profile keep its id (nothing rewrites the log): they are read
only for the profiles asked about, which exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from ..models import DeliveryLog, DeliveryOutcome, SMTPProfile

#: How far back the list's "recent deliveries" look.
WINDOW = timedelta(hours=24)
#: At most this many failed or failed-over rows are read to count each profile's failures:
#: failing mail can fill the window, and a count of "500+" says enough.
FAILURE_ROWS = 500
#: The most recent deliveries read to decide whether the site's mail is failing now.
RECENT = 5
#: Log rows whose ``tried`` holds failed attempts.
_FAILURE_OUTCOMES = [
    DeliveryOutcome.FAILED,
    DeliveryOutcome.FAILED_OVER,
    DeliveryOutcome.DEFERRED,
    DeliveryOutcome.UNKNOWN,
]
#: Outcomes that mean the message did not go out at that attempt, through any profile.
_NOT_SENT = (DeliveryOutcome.FAILED, DeliveryOutcome.DEFERRED)


@dataclass
class SendingHealth:
    """A profile's deliveries in the last ``WINDOW``: how many went out, how many failed."""

    sent: int = 0
    #: Failed attempts through the profile: a message that failed, failed over to another
    #: profile, or was deferred (tried again later) counts, whatever became of it after.
    failed: int = 0
    #: Messages whose connection broke after the body went out: the server may have them.
    unknown: int = 0
    #: Failed and unknown messages in the outbox that the profile was the last to try
    #: (set by the list and the index from ``queue_status.outbox_counts``).
    outbox_failed: int = 0
    outbox_failed_url: str = ""
    last_sent: datetime | None = None
    last_failure: datetime | None = None
    #: The failures were counted from a capped read of the log: there may be more.
    more_failures: bool = False

    @property
    def empty(self) -> bool:
        return not (self.sent or self.failed or self.unknown or self.outbox_failed)

    def sent_since(self, moment: datetime | None) -> bool:
        """Whether a message went out through the profile after ``moment``."""
        return self.last_sent is not None and (moment is None or self.last_sent > moment)


def sending_health(
    profiles: Iterable[SMTPProfile], *, now: datetime | None = None
) -> dict[int, SendingHealth]:
    """Each profile's :class:`SendingHealth`, by primary key, in two queries for them all.

    A message counts as sent by the profile that carried it; a failure counts
    against each profile the backend tried and left (the rows' ``tried``, which
    name profiles: profile names are unique), a deferred attempt too (the
    attempt failed, though the message is tried again); a message whose
    outcome is unknown counts as unknown for the profile tried last.
    """
    profiles = list(profiles)
    health = {profile.pk: SendingHealth() for profile in profiles}
    if not profiles:
        return health
    since = (now or timezone.now()) - WINDOW
    recent = DeliveryLog.objects.filter(created_at__gte=since)
    sent = (
        recent.filter(
            profile__in=list(health),
            outcome__in=[DeliveryOutcome.SENT, DeliveryOutcome.FAILED_OVER],
        )
        .values("profile")
        .annotate(count=Count("id"), last=Max("created_at"))
        .order_by()
    )
    for row in sent:
        health[row["profile"]].sent = row["count"]
        health[row["profile"]].last_sent = row["last"]
    by_name = {profile.name: health[profile.pk] for profile in profiles}
    failures = (
        recent.filter(outcome__in=_FAILURE_OUTCOMES)
        .order_by("-created_at")
        .values_list("created_at", "tried", "outcome")[: FAILURE_ROWS + 1]
    )
    for index, (created_at, tried, outcome) in enumerate(failures):
        if index == FAILURE_ROWS:
            for item in health.values():
                item.more_failures = item.failed > 0
            break
        attempts = [attempt for attempt in tried or () if isinstance(attempt, dict)]
        for position, attempt in enumerate(attempts):
            item = by_name.get(attempt.get("profile"))
            if item is None:
                continue
            if outcome == DeliveryOutcome.UNKNOWN and position == len(attempts) - 1:
                item.unknown += 1  # the attempt that broke after the body went out
                continue
            item.failed += 1
            if item.last_failure is None or created_at > item.last_failure:
                item.last_failure = created_at
    return health


@dataclass
class MailFailing:
    """The most recent deliveries could not be sent through any profile."""

    count: int
    last_at: datetime
    reason: str


def mail_failing_now(*, now: datetime | None = None) -> MailFailing | None:
    """Whether the site's most recent deliveries (within ``WINDOW``) all failed, in one query.

    Counts the failed (or deferred) deliveries since the last one that went out (up to
    ``RECENT``); None when the latest went out, or nothing was sent lately.
    """
    since = (now or timezone.now()) - WINDOW
    latest = (
        DeliveryLog.objects.filter(created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("outcome", "created_at", "reply")[:RECENT]
    )
    failed = []
    for outcome, created_at, reply in latest:
        if outcome not in _NOT_SENT:  # a deferred message could not be sent either
            break
        failed.append((created_at, reply))
    if not failed:
        return None
    return MailFailing(count=len(failed), last_at=failed[0][0], reason=failed[0][1])
