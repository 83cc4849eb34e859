"""Recovery without the broker: the outbox alone says what still has to be done.

``sweep()`` marks messages whose worker died after they started to go out as
``unknown``, wakes a worker for messages that have been due for a while (their
trigger was lost), drops the content of finished messages after
``OUTBOX_RETENTION`` (and the rows of sent ones) and the database task backend's
day-old records of the outbox's task, and raises the
"queue backing up" alert. ``manage.py smtp_outbox_sweep`` runs it, once or in
a loop; ``make run`` runs the loop beside the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.db import router
from django.db.models import Count, Min, Q
from django.utils import timezone

from ..conf import get_setting
from ..models import OutboxMessage, OutboxState
from ..models.outbox import PENDING_STATES
from . import alerts
from .claims import due, expire_claims
from .tasks import deliver_outbox, wake

#: A message due this long without being claimed has lost its trigger.
LOST_TRIGGER_SECONDS = 10
#: The database task backend keeps a row per run of the outbox's task: kept this long.
TASK_RESULT_RETENTION = timedelta(days=1)
_DELETE_BATCH = 1000


@dataclass
class SweepResult:
    unknown: int = 0
    due: int = 0
    woken: bool = False
    purged: int = 0
    task_results_pruned: int = 0
    waiting: int = 0
    oldest_wait_seconds: float = 0.0


def _purge(database: str, now) -> int:
    """Forget finished messages kept longer than OUTBOX_RETENTION, in bounded batches."""
    cutoff = now - timedelta(seconds=float(get_setting("OUTBOX_RETENTION")))
    finished = OutboxMessage.objects.using(database).filter(
        state__in=(
            OutboxState.SENT,
            OutboxState.FAILED,
            OutboxState.UNKNOWN,
            OutboxState.CANCELLED,
        ),
        finished_at__lt=cutoff,
    )
    purged = 0
    while True:
        keys = list(finished.values_list("pk", flat=True)[:_DELETE_BATCH])
        if not keys:
            return purged
        purged += OutboxMessage.objects.using(database).filter(pk__in=keys).delete()[0]


def _prune_task_results(now) -> int:
    """Forget the database task backend's records of the outbox's finished task runs (and of
    runs whose worker died), a day old: they are only triggers, and would grow forever."""
    if not apps.is_installed("django_tasks_db"):
        return 0
    results = apps.get_model("django_tasks_database", "DBTaskResult").objects.filter(
        task_path=deliver_outbox.module_path
    )
    old = now - TASK_RESULT_RETENTION
    stale = results.filter(
        Q(status__in=("SUCCESSFUL", "FAILED"), finished_at__lt=old)
        | Q(status="RUNNING", started_at__lt=old)
    )
    pruned = 0
    while keys := list(stale.values_list("pk", flat=True)[:_DELETE_BATCH]):
        pruned += results.filter(pk__in=keys).delete()[0]
    return pruned


def waiting_for_worker(database: str | None = None, now=None) -> tuple[int, float]:
    """How many messages are due and unclaimed, and for how many seconds the longest
    has been due (0 when none): a long wait means that no worker is running."""
    database = database or router.db_for_write(OutboxMessage)
    now = now or timezone.now()
    figures = (
        OutboxMessage.objects.using(database)
        .filter(state__in=PENDING_STATES, next_attempt_at__lte=now)
        .aggregate(count=Count("pk"), since=Min("next_attempt_at"))
    )
    if not figures["count"]:
        return 0, 0.0
    return figures["count"], max(0.0, (now - figures["since"]).total_seconds())


def sweep() -> SweepResult:
    """One pass of recovery and housekeeping; see the module's docstring."""
    database = router.db_for_write(OutboxMessage)
    now = timezone.now()
    result = SweepResult(unknown=expire_claims())
    # Due for a while, or claimed by a worker whose claim ran out: the trigger is lost.
    lost = now - timedelta(seconds=LOST_TRIGGER_SECONDS)
    result.due = (
        OutboxMessage.objects.using(database)
        .filter(due(now))
        .filter(Q(state=OutboxState.SENDING) | Q(next_attempt_at__lte=lost))
        .count()
    )
    if result.due:
        result.woken = wake()
    result.purged = _purge(database, now)
    result.task_results_pruned = _prune_task_results(now)
    waiting = waiting_for_worker(database, now)
    result.waiting, result.oldest_wait_seconds = waiting
    if result.oldest_wait_seconds > float(get_setting("OUTBOX_STALE_SECONDS")):
        alerts.queue_backing_up(result.waiting, result.oldest_wait_seconds)
    return result
