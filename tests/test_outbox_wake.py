"""Waking a worker for later: the time asked of the task engine (smtpconfig/outbox/tasks.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from smtpconfig.outbox.tasks import wake


def test_a_deferred_wake_is_never_earlier_than_asked_and_falls_on_a_whole_second(settings):
    """RQ's scheduler keeps whole seconds, rounded down: a drain asked for x.6 s must not run
    at x s, before its message is due (it would find nothing and schedule nothing more)."""
    settings.TASKS = {"outbox": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TASK_BACKEND": "outbox"}
    from django_tasks import task_backends

    due = timezone.now().replace(microsecond=600_000) + timedelta(seconds=30)
    assert wake(run_after=due)
    assert wake(run_after=due.replace(microsecond=0))

    late, exact = (result.task.run_after for result in task_backends["outbox"].results)
    assert late == due.replace(microsecond=0) + timedelta(seconds=1)
    assert exact == due.replace(microsecond=0)
