"""Handing due messages to one worker at a time, under a lease.

A claim is one conditional UPDATE: only rows that are still due change, so two
workers never hold the same message. On PostgreSQL the candidates are picked
with ``SELECT … FOR UPDATE SKIP LOCKED``, so that workers do not queue behind
each other's locks; on SQLite, where a write locks the whole database, the
conditional update alone decides. A claim lasts ``OUTBOX_LEASE_SECONDS`` and is
renewed while its worker works; when it runs out, its messages are due again,
except one whose body may have gone out (``started_at`` set): that one becomes
``unknown``, since sending it again could deliver it twice.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db import OperationalError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import get_setting
from ..models import OutboxMessage, OutboxState
from ..models.outbox import PENDING_STATES

#: Part of every claim's name: which host and process holds it (for the admin and logs).
WORKER_NAME = f"{socket.gethostname()[:30]}:{os.getpid()}"


def lease() -> timedelta:
    return timedelta(seconds=float(get_setting("OUTBOX_LEASE_SECONDS")))


def due(now=None) -> Q:
    """Messages a worker may claim now: pending and due, or held by a claim that ran out
    before any of its message went out."""
    now = now or timezone.now()
    return Q(state__in=PENDING_STATES, next_attempt_at__lte=now) | Q(
        state=OutboxState.SENDING, leased_until__lt=now, started_at__isnull=True
    )


def _database() -> str:
    return router.db_for_write(OutboxMessage)


def claim(limit: int) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages, oldest first; return them (state ``sending``)."""
    database = _database()
    now = timezone.now()
    token = f"{WORKER_NAME}:{uuid.uuid4().hex[:16]}"[:64]
    features = connections[database].features
    for _attempt in range(5):
        try:
            with transaction.atomic(using=database):
                candidates = OutboxMessage.objects.using(database).filter(due(now))
                if features.has_select_for_update_skip_locked:
                    candidates = candidates.select_for_update(skip_locked=True)
                keys = list(
                    candidates.order_by("created_at", "id").values_list("pk", flat=True)[:limit]
                )
                if not keys:
                    return []
                OutboxMessage.objects.using(database).filter(pk__in=keys).filter(due(now)).update(
                    state=OutboxState.SENDING,
                    claim=token,
                    leased_until=now + lease(),
                    started_at=None,
                )
            break
        except OperationalError as exc:  # SQLite: another writer holds the database
            if "locked" not in str(exc).lower():
                raise
    else:
        return []
    return list(
        OutboxMessage.objects.using(database)
        .filter(claim=token, state=OutboxState.SENDING)
        .order_by("created_at", "id")
    )


def renew(token: str) -> None:
    """Extend the lease of every message still held by ``token``."""
    OutboxMessage.objects.using(_database()).filter(claim=token, state=OutboxState.SENDING).update(
        leased_until=timezone.now() + lease()
    )


def expire_claims() -> int:
    """Mark as ``unknown`` the messages whose claim ran out after they started to go out.

    Returns how many. (A claim that ran out before its message started needs
    nothing: :func:`due` makes the message claimable again.)
    """
    now = timezone.now()
    return (
        OutboxMessage.objects.using(_database())
        .filter(state=OutboxState.SENDING, leased_until__lt=now, started_at__isnull=False)
        .update(
            state=OutboxState.UNKNOWN,
            finished_at=now,
            last_error=_(
                "The worker sending this message stopped (it was killed or lost its "
                "connection to the database) after the message started to go out: the server "
                "may have it. Check with the recipient before sending it again."
            ),
        )
    )
