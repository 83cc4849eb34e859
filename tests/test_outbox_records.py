"""What a worker writes while it sends a claimed batch (outbox/records.py), on the real
database: each start in one commit with the outcome before it, and nothing once the
claim is another worker's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.mail import EmailMessage
from django.utils import timezone

from smtpconfig.models import DeliveryLog, OutboxMessage
from smtpconfig.outbox import claims
from smtpconfig.outbox.records import BatchRecorder
from smtpconfig.outbox.store import enqueue

pytestmark = pytest.mark.django_db(transaction=True)


def _log_row(subject: str) -> dict:
    return {
        "created_at": timezone.now(),
        "profile": None,
        "profile_name": "Main",
        "tried": [],
        "sender": "noreply@x.test",
        "recipients": "a@x.test",
        "subject": subject,
        "message_id": "",
        "outcome": "sent",
        "reply": "250 OK",
        "duration": 0.01,
    }


def _claimed(count: int) -> list[OutboxMessage]:
    enqueue([EmailMessage(f"n{n}", "Body", None, ["a@x.test"]) for n in range(count)])
    return claims.claim(count)


def test_a_start_marks_the_message_and_writes_the_previous_outcome_and_log_with_it():
    first, second = _claimed(2)
    recorder = BatchRecorder(first.claim)
    recorder.start(first)
    started = OutboxMessage.objects.get(pk=first.pk)
    assert started.started_at is not None and started.attempts == 1
    assert started.last_attempt_at == started.started_at

    now = timezone.now()
    recorder.finish(
        first,
        {"state": "sent", "sent_at": now, "finished_at": now, "content_encrypted": "",
         "profile_id": None, "profile_name": "Main", "last_step": "", "last_error": ""},
        [_log_row("n0")],
    )  # fmt: skip
    # Held until the next start: the outcome alone is not worth a commit of its own.
    assert OutboxMessage.objects.get(pk=first.pk).state == "sending"
    assert not DeliveryLog.objects.exists()

    recorder.start(second)
    done = OutboxMessage.objects.get(pk=first.pk)
    assert (done.state, done.claim, done.leased_until, done.content_encrypted) == (
        "sent",
        "",
        None,
        "",
    )
    assert done.sent_at == now and done.attempts == 1
    assert list(DeliveryLog.objects.values_list("subject", flat=True)) == ["n0"]
    going = OutboxMessage.objects.get(pk=second.pk)
    assert going.started_at is not None and going.attempts == 1 and going.state == "sending"


def test_a_release_gives_the_message_back_without_an_attempt():
    (row,) = _claimed(1)
    recorder = BatchRecorder(row.claim)
    later = timezone.now() + timedelta(minutes=5)
    recorder.release(row, {"state": "deferred", "next_attempt_at": later, "last_step": "connect"})
    recorder.flush()
    row = OutboxMessage.objects.get(pk=row.pk)
    assert (row.state, row.claim, row.started_at, row.attempts) == ("deferred", "", None, 0)
    assert row.next_attempt_at == later


def test_a_worker_whose_claim_another_worker_took_writes_nothing():
    (row,) = _claimed(1)
    recorder = BatchRecorder(row.claim)
    # The lease ran out before the message started, and another worker claimed it.
    OutboxMessage.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    (taken,) = claims.claim(1)
    assert taken.claim != row.claim

    recorder.start(row)
    recorder.finish(row, {"state": "failed", "finished_at": timezone.now()}, [])
    recorder.flush()
    now_held = OutboxMessage.objects.get(pk=row.pk)
    assert (now_held.state, now_held.claim, now_held.attempts, now_held.started_at) == (
        "sending",
        taken.claim,
        0,
        None,
    )


def _sent_fields() -> dict:
    now = timezone.now()
    return {
        "state": "sent",
        "sent_at": now,
        "finished_at": now,
        "content_encrypted": "",
        "profile_id": None,
        "profile_name": "Main",
        "last_step": "",
        "last_error": "",
    }


def test_at_a_fast_pace_one_commit_marks_the_next_messages_too(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MARK_AHEAD_SECONDS": 5}
    rows = _claimed(4)
    recorder = BatchRecorder(rows[0].claim)
    recorder.plan(rows)
    recorder.start(rows[0])  # no pace yet: this one alone
    assert OutboxMessage.objects.filter(started_at__isnull=False).count() == 1
    recorder.finish(rows[0], _sent_fields(), [])
    recorder.start(rows[1])  # a fast pace: the rest are marked in the same commit
    marked = OutboxMessage.objects.filter(state="sending", started_at__isnull=False).order_by("pk")
    assert [row.pk for row in marked] == [row.pk for row in rows[1:]]
    assert [row.attempts for row in marked] == [1, 0, 0]  # not tried yet: not counted

    recorder.finish(rows[1], _sent_fields(), [])
    recorder.start(rows[2])  # already marked: no commit
    assert OutboxMessage.objects.get(pk=rows[1].pk).state == "sending"
    recorder.finish(rows[2], _sent_fields(), [])
    recorder.release(rows[3], {"state": "deferred", "next_attempt_at": timezone.now()})
    recorder.flush()
    states = dict(OutboxMessage.objects.values_list("pk", "state"))
    assert [states[row.pk] for row in rows] == ["sent", "sent", "sent", "deferred"]
    attempts = dict(OutboxMessage.objects.values_list("pk", "attempts"))
    assert [attempts[row.pk] for row in rows] == [1, 1, 1, 0]
    released = OutboxMessage.objects.get(pk=rows[3].pk)
    assert released.started_at is None  # claimable again, never "unknown"


def test_a_worker_killed_after_marking_ahead_leaves_those_unknown_never_due_again(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MARK_AHEAD_SECONDS": 5}
    rows = _claimed(3)
    recorder = BatchRecorder(rows[0].claim)
    recorder.plan(rows)
    recorder.start(rows[0])
    recorder.finish(rows[0], _sent_fields(), [])
    recorder.start(rows[1])  # marks rows[2] ahead; then the worker is killed
    OutboxMessage.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    assert claims.claim(10) == []  # nothing may be sent again
    assert claims.expire_claims() == 2
    states = dict(OutboxMessage.objects.values_list("pk", "state"))
    assert [states[row.pk] for row in rows] == ["sent", "unknown", "unknown"]


def test_with_no_marking_ahead_each_message_is_marked_alone(settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MARK_AHEAD_SECONDS": 0}
    rows = _claimed(3)
    recorder = BatchRecorder(rows[0].claim)
    recorder.plan(rows)
    for row in rows[:2]:
        recorder.start(row)
        recorder.finish(row, _sent_fields(), [])
    assert OutboxMessage.objects.filter(started_at__isnull=False).count() == 2
