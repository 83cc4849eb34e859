"""The task Django's task framework runs for the outbox, and how workers are woken.

The task carries no message: it drains whatever is due. So a lost trigger
(the broker was down at commit time, a worker was killed) loses nothing; the
sweeper (:mod:`.sweep`) sends another. The engine is the host project's
choice (``TASKS``): the database backend and ``manage.py db_worker`` on one
machine, RQ on Redis across several, the immediate backend to send at
commit time in the same process.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from ..conf import get_setting
from .worker import drain, next_deferred_attempt

try:  # Django 6.0 has the task framework; on 5.2 the django-tasks backport provides it.
    from django.tasks import task
except ImportError:
    from django_tasks import task

logger = logging.getLogger("smtpconfig")


@task()
def deliver_outbox(message_ids: list | None = None, scheduled: bool = False) -> dict:
    """Send the outbox's due messages (``message_ids``: the ones that woke it, for the record).

    Schedules the next run for what it deferred, and another run when it
    stopped at its time limit with messages still due. A ``scheduled`` run
    that came too early (another machine's clock, an engine's rounding) and
    found nothing schedules itself again for the earliest deferred message.
    """
    summary = drain()
    if summary.more:
        wake()
    if summary.wake_at is not None:
        wake(run_after=summary.wake_at)
    elif scheduled and not summary.claimed:
        next_attempt = next_deferred_attempt()
        if next_attempt is not None:
            wake(run_after=next_attempt)
    return summary.as_dict()


def wake(message_ids=(), run_after=None) -> bool:
    """Ask the configured task backend for a drain (at ``run_after``); False if it could not.

    Never raises: the messages are safe in the outbox whatever the broker
    does, and the sweeper wakes a worker for anything left waiting.
    """
    try:
        queued = deliver_outbox.using(backend=get_setting("TASK_BACKEND"))
        if run_after is not None:
            if not queued.get_backend().supports_defer:
                return False  # the sweeper sends it when it is due
            queued = queued.using(run_after=_whole_second_after(run_after))
        queued.enqueue(list(message_ids), scheduled=run_after is not None)
    except Exception as exc:  # noqa: BLE001 - a broker error must not fail the sender
        logger.warning(
            "Could not wake an outbox worker (%s: %s); the messages wait in the outbox "
            "until the sweeper (manage.py smtp_outbox_sweep) or the next message wakes one.",
            type(exc).__name__,
            exc,
        )
        return False
    return True


def _whole_second_after(moment):
    """``moment`` rounded up to a whole second. RQ's scheduler keeps whole seconds, rounded
    down: a drain asked for 12:00:03.6 would run at 12:00:03, find nothing due yet, and
    schedule nothing more, leaving the retry to the sweeper."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def messages_queued(sender, message_ids, **kwargs) -> None:
    """Receiver of ``signals.messages_queued``: wake a worker for the new messages."""
    wake(message_ids)
