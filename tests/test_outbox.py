"""The outbox (QueuedEmailBackend, the worker's drain, retries, claims, the sweeper) against
real SMTP servers on 127.0.0.1 and the real database."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from smtpconfig import signals
from smtpconfig.backends import QueuedEmailBackend
from smtpconfig.exceptions import ProfileNotFound
from smtpconfig.models import DeliveryLog, OutboxMessage
from smtpconfig.outbox import claims
from smtpconfig.outbox.store import enqueue, load
from smtpconfig.outbox.sweep import sweep
from smtpconfig.outbox.worker import drain
from tests.smtpd import (
    PLAIN_REPLIES,
    RecordingHandler,
    free_port,
    running_smtp_server,
    scripted_server,
)

pytestmark = pytest.mark.django_db(transaction=True)

QUEUED = "smtpconfig.backends.QueuedEmailBackend"


@pytest.fixture
def queued(settings):
    settings.EMAIL_BACKEND = QUEUED


def _due_now() -> None:
    """Time passes: every pending message is due."""
    OutboxMessage.objects.filter(state__in=["queued", "deferred"]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def _message_ids(server) -> list[str]:
    return [received.message["Message-ID"] for received in server.messages]


def test_send_mail_queues_encrypted_and_wakes_a_worker_on_commit(
    queued, plain_server, make_profile
):
    make_profile(port=plain_server.port)
    assert mail.send_mail("Reset", "Your link: https://x.test/reset/abc", None, ["a@x.test"]) == 1

    row = OutboxMessage.objects.get()
    assert row.state == "queued" and row.attempts == 0
    assert row.recipients == "a@x.test" and row.subject == "Reset"
    assert "reset/abc" not in row.content_encrypted and row.content_encrypted
    assert row.message_id.startswith("<") and plain_server.messages == []
    assert DBTaskResult.objects.count() == 1  # the trigger; the message itself is in the outbox

    summary = drain()

    assert summary.sent == 1
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.content_encrypted == ""  # only the metadata stays
    assert row.profile_name == "Main" and row.sender == "Example Site <noreply@example.com>"
    assert _message_ids(plain_server) == [row.message_id]
    log = DeliveryLog.objects.get()
    assert log.outcome == "sent" and log.message_id == row.message_id


def test_a_rolled_back_transaction_queues_nothing(queued, plain_server, make_profile):
    make_profile(port=plain_server.port)
    with pytest.raises(RuntimeError), transaction.atomic():
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        raise RuntimeError("the view failed")

    assert OutboxMessage.objects.count() == 0 and DBTaskResult.objects.count() == 0
    assert drain().sent == 0 and plain_server.messages == []


def test_the_trigger_joins_the_transaction_when_the_task_queue_is_in_the_same_database(
    queued, plain_server, make_profile
):
    make_profile(port=plain_server.port)
    with transaction.atomic():
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        assert DBTaskResult.objects.count() == 1  # written with the message, not after it
    with pytest.raises(RuntimeError), transaction.atomic():
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        raise RuntimeError
    assert DBTaskResult.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_attachments_alternatives_and_headers_arrive_as_queued(queued, plain_server, make_profile):
    make_profile(port=plain_server.port)
    message = EmailMultiAlternatives(
        "Report",
        "plain body",
        "Reports <reports@example.com>",
        ["a@x.test"],
        cc=["c@x.test"],
        bcc=["b@x.test"],
        headers={"X-Campaign": "42"},
    )
    message.attach_alternative("<p>html body</p>", "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")
    message.send()

    drain()

    (received,) = plain_server.messages
    assert sorted(received.rcpt_tos) == ["a@x.test", "b@x.test", "c@x.test"]
    parsed = message_from_bytes(received.data, policy=email_policy.default)
    assert parsed["From"] == "Reports <reports@example.com>" and parsed["X-Campaign"] == "42"
    assert "Bcc" not in parsed
    assert parsed.get_body(("html",)).get_content().strip() == "<p>html body</p>"
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content().splitlines() == ["a,b", "1,2"]
    assert parsed["Message-ID"] == OutboxMessage.objects.get().message_id


def test_the_message_id_and_date_stay_the_same_across_attempts(queued, make_profile):
    port = free_port()
    make_profile(port=port)
    mail.send_mail("Hello", "Body", None, ["a@x.test"])
    stored = load(OutboxMessage.objects.get())
    drain()  # nobody listens: deferred
    with running_smtp_server(port=port) as server:
        _due_now()
        drain()
    parsed = server.messages[0].message
    assert parsed["Message-ID"] == stored.extra_headers["Message-ID"]
    assert parsed["Date"] == stored.extra_headers["Date"]


def test_a_server_that_is_down_defers_with_backoff_then_delivers_in_age_order(
    queued, settings, make_profile
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_RETRY_DELAY": 30}
    port = free_port()
    make_profile(port=port, timeout=2)
    mail.send_mail("first", "Body", None, ["a@x.test"])
    before = timezone.now()
    summary = drain()

    first = OutboxMessage.objects.get()
    assert summary.deferred == 1 and first.state == "deferred" and first.attempts == 1
    assert first.last_step == "connect" and "127.0.0.1" in first.last_error
    assert before + timedelta(seconds=30) <= first.next_attempt_at
    assert first.next_attempt_at <= timezone.now() + timedelta(seconds=45)
    assert DeliveryLog.objects.get().outcome == "deferred"

    # Mail queued while the server is known to be down waits with the older mail, untried.
    for subject in ("second", "third"):
        mail.send_mail(subject, "Body", None, ["a@x.test"])
    drain()
    waiting = OutboxMessage.objects.exclude(pk=first.pk)
    assert {row.state for row in waiting} == {"deferred"}
    assert {row.attempts for row in waiting} == {0}
    assert {row.next_attempt_at for row in waiting} == {first.next_attempt_at}
    assert DeliveryLog.objects.count() == 1

    with running_smtp_server(port=port) as server:
        _due_now()
        assert drain().sent == 3
    assert [received.message["Subject"] for received in server.messages] == [
        "first",
        "second",
        "third",
    ]
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"sent"}


def test_a_permanent_refusal_fails_at_once_and_signals(queued, make_profile):
    failures = []
    signals.delivery_failed.connect(lambda **kw: failures.append(kw), weak=False, dispatch_uid="t")
    try:
        with running_smtp_server(
            handler=RecordingHandler(rcpt_reply="550 5.1.1 No such user")
        ) as server:
            make_profile(port=server.port)
            mail.send_mail("Hello", "Body", None, ["nobody@x.test"])
            summary = drain()
    finally:
        signals.delivery_failed.disconnect(dispatch_uid="t")
    row = OutboxMessage.objects.get()
    assert summary.failed == 1 and row.state == "failed" and row.attempts == 1
    assert row.last_step == "rcpt" and row.finished_at is not None
    assert row.content_encrypted  # kept so that it can be resent
    assert len(failures) == 1 and "nobody@x.test" in str(failures[0]["message"].to)
    assert DeliveryLog.objects.get().outcome == "failed"


def test_a_temporary_refusal_defers(queued, make_profile):
    with running_smtp_server(handler=RecordingHandler(rcpt_reply="450 4.2.0 Try later")) as s:
        make_profile(port=s.port)
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        drain()
    row = OutboxMessage.objects.get()
    assert row.state == "deferred" and row.last_step == "rcpt"


def test_the_last_allowed_attempt_fails_for_good(queued, settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MAX_ATTEMPTS": 2}
    make_profile(port=free_port(), timeout=2)
    mail.send_mail("Hello", "Body", None, ["a@x.test"])
    drain()
    assert OutboxMessage.objects.get().state == "deferred"
    _due_now()
    drain()
    row = OutboxMessage.objects.get()
    assert row.state == "failed" and row.attempts == 2
    assert list(DeliveryLog.objects.order_by("id").values_list("outcome", flat=True)) == [
        "deferred",
        "failed",
    ]


def test_a_message_older_than_the_maximum_age_fails_for_good(queued, settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MAX_AGE": 60}
    make_profile(port=free_port(), timeout=2)
    mail.send_mail("Hello", "Body", None, ["a@x.test"])
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    drain()
    assert OutboxMessage.objects.get().state == "failed"


def test_a_connection_lost_after_the_body_is_unknown_and_never_retried(queued, make_profile):
    with scripted_server(b"220 scripted.test\r\n", PLAIN_REPLIES, after_data=None) as server:
        make_profile(port=server.port)
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        summary = drain()
        row = OutboxMessage.objects.get()
        assert summary.unknown == 1 and row.state == "unknown"
        assert len(server.received) == 1
        OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
        assert drain().unknown == 0
        assert len(server.received) == 1  # never sent twice
    assert DeliveryLog.objects.get().outcome == "unknown"


def test_failover_applies_to_each_attempt(queued, plain_server, make_profile):
    make_profile(name="Down", port=free_port(), timeout=2)
    make_profile(name="Backup", port=plain_server.port, is_default=False, priority=5)
    mail.send_mail("Hello", "Body", None, ["a@x.test"])
    drain()
    row = OutboxMessage.objects.get()
    assert row.state == "sent" and row.profile_name == "Backup"
    assert DeliveryLog.objects.get().outcome == "failed_over"


def test_a_batch_goes_over_one_connection(queued, make_profile):
    with scripted_server(b"220 scripted.test\r\n", PLAIN_REPLIES) as server:
        make_profile(port=server.port)
        for number in range(12):
            mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
        assert drain().sent == 12
    assert len(server.received) == 12 and len(server.connections) == 1


def test_a_named_profile_is_kept_with_the_message(queued, make_profile):
    with running_smtp_server() as main, running_smtp_server() as alerts:
        make_profile(name="Main", port=main.port)
        make_profile(name="Alerts", port=alerts.port, is_default=False)
        EmailMessage(
            "Hi", "Body", None, ["a@x.test"], connection=get_connection(profile="Alerts")
        ).send()
        drain()
        assert len(alerts.messages) == 1 and main.messages == []


def test_an_unknown_profile_is_refused_when_the_backend_is_made(queued, make_profile):
    make_profile()
    with pytest.raises(ProfileNotFound):
        get_connection(profile="Nope")


def test_explicit_server_arguments_send_at_once(queued, plain_server, make_profile):
    make_profile(port=free_port())
    connection = get_connection(host="127.0.0.1", port=plain_server.port)
    assert isinstance(connection, QueuedEmailBackend)
    mail.send_mail("Hi", "Body", None, ["a@x.test"], connection=connection)
    assert len(plain_server.messages) == 1 and OutboxMessage.objects.count() == 0


def test_queue_off_sends_at_once(queued, settings, plain_server, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "QUEUE": False}
    make_profile(port=plain_server.port)
    mail.send_mail("Hi", "Body", None, ["a@x.test"])
    assert len(plain_server.messages) == 1 and OutboxMessage.objects.count() == 0


def test_messages_without_recipients_are_not_queued(queued, make_profile):
    make_profile()
    assert QueuedEmailBackend().send_messages([EmailMessage("Hi", "Body", None, [])]) == 0
    assert OutboxMessage.objects.count() == 0


# Claims.


def test_two_claims_never_share_a_message(make_profile):
    make_profile()
    enqueue([EmailMessage(f"n{n}", "Body", None, ["a@x.test"]) for n in range(5)])
    first, second = claims.claim(3), claims.claim(3)
    assert len(first) == 3 and len(second) == 2
    assert not {row.pk for row in first} & {row.pk for row in second}
    assert claims.claim(3) == []


def test_a_claim_that_ran_out_before_its_message_went_out_is_claimable_again(make_profile):
    make_profile()
    enqueue([EmailMessage("Hi", "Body", None, ["a@x.test"])])
    (row,) = claims.claim(1)
    OutboxMessage.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    (again,) = claims.claim(1)
    assert again.pk == row.pk and again.claim != row.claim


def test_a_claim_that_ran_out_after_its_message_started_becomes_unknown(make_profile):
    make_profile()
    enqueue([EmailMessage("Hi", "Body", None, ["a@x.test"])])
    claims.claim(1)
    OutboxMessage.objects.update(
        started_at=timezone.now(), leased_until=timezone.now() - timedelta(seconds=1)
    )
    assert claims.claim(1) == []
    result = sweep()
    row = OutboxMessage.objects.get()
    assert result.unknown == 1 and row.state == "unknown" and "may have it" in row.last_error


# The sweeper.


def test_the_sweeper_wakes_a_worker_for_messages_whose_trigger_was_lost(make_profile):
    make_profile()
    enqueue([EmailMessage("Hi", "Body", None, ["a@x.test"])])
    DBTaskResult.objects.all().delete()  # the broker lost the trigger
    assert sweep().due == 0  # just queued: its trigger may still be on its way
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    result = sweep()
    assert result.due == 1 and result.woken and DBTaskResult.objects.count() == 1


def test_the_sweeper_forgets_finished_messages_after_the_retention(settings, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_RETENTION": 3600}
    make_profile()
    enqueue([EmailMessage(f"n{n}", "Body", None, ["a@x.test"]) for n in range(3)])
    old = timezone.now() - timedelta(hours=2)
    rows = list(OutboxMessage.objects.order_by("pk"))
    OutboxMessage.objects.filter(pk=rows[0].pk).update(state="failed", finished_at=old)
    OutboxMessage.objects.filter(pk=rows[1].pk).update(state="failed", finished_at=timezone.now())
    assert sweep().purged == 1
    assert list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True)) == [
        rows[1].pk,
        rows[2].pk,
    ]


def test_the_sweep_command_reports_what_it_did(make_profile, capsys):
    make_profile()
    call_command("smtp_outbox_sweep")
    assert "Nothing to do" in capsys.readouterr().out
    enqueue([EmailMessage("Hi", "Body", None, ["a@x.test"])])
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    call_command("smtp_outbox_sweep")
    assert "1 message was waiting for a worker; a worker was woken." in capsys.readouterr().out


def test_key_rotation_re_encrypts_queued_messages(settings, make_profile):
    make_profile()
    enqueue([EmailMessage("Hi", "secret body", None, ["a@x.test"])])
    old_token = OutboxMessage.objects.get().content_encrypted
    new_key = "Vd7PUZ0p8m2dyh8OfYHcq1IkzDx1bXfR3oS7WJXy3V8="
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "ENCRYPTION_KEYS": [new_key, settings.TEST_ENCRYPTION_KEY],
    }
    call_command("smtp_rotate_key")
    row = OutboxMessage.objects.get()
    assert row.content_encrypted != old_token
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [new_key]}
    assert load(row).body == "secret body"


def test_the_sweeper_prunes_day_old_records_of_the_outbox_task(make_profile):
    make_profile()
    enqueue([EmailMessage(f"n{n}", "Body", None, ["a@x.test"]) for n in range(3)])
    assert DBTaskResult.objects.count() == 1
    drain()
    two_days_ago = timezone.now() - timedelta(days=2)
    DBTaskResult.objects.update(status="SUCCESSFUL", finished_at=two_days_ago)
    assert sweep().task_results_pruned == 1 and DBTaskResult.objects.count() == 0


def test_with_the_immediate_task_backend_mail_goes_out_at_commit(
    queued, settings, plain_server, make_profile
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    make_profile(port=plain_server.port)
    with transaction.atomic():
        mail.send_mail("Hello", "Body", None, ["a@x.test"])
        assert plain_server.messages == []
    assert len(plain_server.messages) == 1
    assert OutboxMessage.objects.get().state == "sent"


def test_a_broker_that_refuses_the_trigger_loses_nothing(
    queued, settings, plain_server, make_profile
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TASK_BACKEND": "missing"}
    make_profile(port=plain_server.port)
    assert mail.send_mail("Hello", "Body", None, ["a@x.test"]) == 1  # the caller is not failed
    assert OutboxMessage.objects.get().state == "queued" and DBTaskResult.objects.count() == 0
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "TASK_BACKEND": "default"}
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    assert sweep().woken and DBTaskResult.objects.count() == 1
    drain()
    assert len(plain_server.messages) == 1


def test_a_scheduled_run_that_came_too_early_schedules_itself_again(queued, make_profile):
    from smtpconfig.outbox.tasks import deliver_outbox

    make_profile(port=free_port(), timeout=2)
    mail.send_mail("Hello", "Body", None, ["a@x.test"])
    drain()  # deferred
    due = OutboxMessage.objects.get().next_attempt_at
    DBTaskResult.objects.all().delete()
    assert deliver_outbox.call(scheduled=True)["deferred"] == 0  # nothing due yet
    (again,) = DBTaskResult.objects.all()
    assert again.run_after >= due and again.args_kwargs["kwargs"] == {"scheduled": True}
    DBTaskResult.objects.all().delete()
    deliver_outbox.call()  # an ordinary trigger that finds nothing schedules nothing
    assert DBTaskResult.objects.count() == 0
