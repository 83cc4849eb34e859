"""The outbox in the admin (issue 14): the list and a message's page (never its content),
"Send now", "Cancel" and "Resend" with their permissions and history, and the outbox's
counts and the no-worker banner on the admin index and the profile list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.mail import EmailMessage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from smtpconfig.models import DeliveryLog, DeliveryOutcome, OutboxMessage, OutboxState
from smtpconfig.outbox import store, worker
from smtpconfig.outbox.claims import claim

from .helpers import LIST_URL, client_with, page
from .smtpd import free_port

pytestmark = pytest.mark.django_db

OUTBOX_URL = reverse("admin:smtpconfig_outboxmessage_changelist")
INDEX_URL = reverse("admin:index")
# What a password-reset email carries: it must never reach an admin page.
SECRET_LINK = "https://example.com/reset/MQ/cdn1k2-5f0e6c1d9b8a7f6e5d4c3b2a19080706/"


def queue(subject: str, *, to: str = "to@example.org", state: str | None = None, **fields):
    """One message written to the outbox as the site writes it, then put in ``state``."""
    body = f"Someone asked to reset your password. Follow {SECRET_LINK} to choose a new one."
    [key] = store.enqueue([EmailMessage(subject, body, "site@example.com", [to])])
    if state is not None or fields:
        OutboxMessage.objects.filter(pk=key).update(**({"state": state} if state else {}), **fields)
    return OutboxMessage.objects.get(pk=key)


def one_of_each_state() -> dict[str, OutboxMessage]:
    return {state: queue(f"Subject {state}", state=state) for state in OutboxState.values}


def detail_url(message: OutboxMessage) -> str:
    return reverse("admin:smtpconfig_outboxmessage_change", args=[message.pk])


def text(response) -> str:
    return re.sub(r"\s+", " ", page(response))


def act(client, action: str, *messages: OutboxMessage, **extra):
    return client.post(
        OUTBOX_URL,
        {"action": action, "_selected_action": [m.pk for m in messages], **extra},
        follow=True,
    )


def test_list_shows_every_state_and_never_the_body(admin_client):
    messages = one_of_each_state()
    listing = text(admin_client.get(OUTBOX_URL))
    for state, message in messages.items():
        assert f"smtpconfig-state-{state}" in listing
        assert message.subject in listing
    assert "to@example.org" in listing and "site@example.com" in listing
    for message in messages.values():
        html = page(admin_client.get(detail_url(message)))
        assert message.message_id.strip("<>") in html.replace("&lt;", "<").replace("&gt;", ">")
        for shown in (listing, html):
            assert "reset your password" not in shown
            assert "cdn1k2" not in shown
            assert message.content_encrypted[:40] not in shown


def test_list_does_not_count_the_whole_table(admin_client):
    queue("One")
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(OUTBOX_URL + "?state=queued")
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "outbox" in q["sql"]]
    assert counts and all("WHERE" in sql for sql in counts)  # never the full table's


def test_next_attempt_shows_only_for_messages_still_to_be_tried(admin_client):
    due = timezone.now() + timedelta(hours=2)
    pending = queue("Pending", state=OutboxState.DEFERRED, next_attempt_at=due)
    failed = queue("Failed", state=OutboxState.FAILED, next_attempt_at=due)
    stamp = timezone.localtime(due).strftime("%Y-%m-%d %H:%M:%S %Z")
    assert stamp in page(admin_client.get(detail_url(pending)))
    assert stamp not in page(admin_client.get(detail_url(failed)))


def test_filters_by_state_and_profile_and_search(admin_client, make_profile):
    main = make_profile(name="Main")
    other = make_profile(name="Other", is_default=False)
    queue("Queued one", state=OutboxState.QUEUED)
    queue("Sending one", state=OutboxState.SENDING)
    queue("Failed at Main", state=OutboxState.FAILED, profile=main, profile_name="Main")
    queue("Unknown at Other", state=OutboxState.UNKNOWN, profile=other, profile_name="Other")

    waiting = page(admin_client.get(OUTBOX_URL + "?state=waiting"))
    assert "Queued one" in waiting and "Sending one" in waiting and "Failed at" not in waiting
    failed = page(admin_client.get(OUTBOX_URL + "?state=failed"))
    assert "Failed at Main" in failed and "Unknown at" not in failed and "Queued one" not in failed
    both = page(admin_client.get(OUTBOX_URL + "?state=failed_or_unknown"))
    assert "Failed at Main" in both and "Unknown at Other" in both and "Queued one" not in both
    by_profile = page(admin_client.get(OUTBOX_URL + f"?profile__id__exact={other.pk}"))
    assert "Unknown at Other" in by_profile and "Failed at Main" not in by_profile

    queue("Invoice", to="billing@example.net")
    found = page(admin_client.get(OUTBOX_URL + "?q=billing%40example.net"))
    assert "Invoice" in found and "Queued one" not in found


def test_a_deleted_profile_is_shown_by_its_name(admin_client, make_profile):
    gone = make_profile(name="Gone")
    message = queue("Old", state=OutboxState.FAILED, profile=gone, profile_name="Gone")
    gone.delete()
    html = page(admin_client.get(detail_url(message)))
    assert "Gone" in html
    assert "Old" in page(admin_client.get(OUTBOX_URL))


def test_the_admin_can_neither_add_edit_nor_delete(admin_client):
    message = queue("Hello")
    assert admin_client.get(reverse("admin:smtpconfig_outboxmessage_add")).status_code == 403
    response = admin_client.post(detail_url(message), {"subject": "Changed"})
    assert response.status_code == 403
    delete = reverse("admin:smtpconfig_outboxmessage_delete", args=[message.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert OutboxMessage.objects.get(pk=message.pk).subject == "Hello"
    assert 'value="delete_selected"' not in page(admin_client.get(OUTBOX_URL))


def test_send_now_sends_a_deferred_message_once(
    admin_client, make_profile, plain_server, django_capture_on_commit_callbacks
):
    make_profile(port=plain_server.port)
    later = timezone.now() + timedelta(hours=1)
    deferred = queue("Deferred", state=OutboxState.DEFERRED, next_attempt_at=later, attempts=1)
    sent = queue("Already sent", state=OutboxState.SENT)
    tasks_before = DBTaskResult.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "send_now", deferred, sent)
    html = text(response)
    assert "1 message is due now: a worker has been asked to send it." in html
    assert "1 message was left as it was: only queued or deferred messages" in html
    deferred.refresh_from_db()
    assert deferred.state == OutboxState.QUEUED and deferred.next_attempt_at <= timezone.now()
    assert DBTaskResult.objects.count() == tasks_before + 1  # a worker was woken

    worker.drain(time_limit=30)
    assert len(plain_server.messages) == 1
    assert plain_server.messages[0].message["Subject"] == "Deferred"
    deferred.refresh_from_db()
    assert deferred.state == OutboxState.SENT
    history = LogEntry.objects.get(object_id=str(deferred.pk))
    assert history.action_flag == CHANGE and "Send now" in history.get_change_message()


def test_cancel_stops_a_waiting_message_but_not_one_a_worker_holds(admin_client):
    waiting = queue("Waiting")
    # The page showed both as queued; a worker claims one before the click arrives.
    taken = queue("Taken")
    OutboxMessage.objects.filter(pk=waiting.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    [claimed] = claim(10)
    assert claimed.pk == taken.pk

    html = text(act(admin_client, "cancel", waiting, taken))
    assert "1 message cancelled" in html
    assert "1 message was not cancelled: only queued or deferred messages can be" in html
    waiting.refresh_from_db()
    taken.refresh_from_db()
    assert waiting.state == OutboxState.CANCELLED and waiting.finished_at is not None
    assert waiting.has_content  # kept until the retention period: it can be resent
    assert taken.state == OutboxState.SENDING and taken.claim == claimed.claim
    assert list(LogEntry.objects.values_list("object_id", flat=True)) == [str(waiting.pk)]


def test_resend_needs_its_own_permission(make_profile):
    failed = queue("Failed", state=OutboxState.FAILED, attempts=3, finished_at=timezone.now())
    staff = client_with("view_outboxmessage", "change_outboxmessage")
    listing = page(staff.get(OUTBOX_URL))
    assert 'value="send_now"' in listing and 'value="resend"' not in listing
    act(staff, "resend", failed, post="yes")
    failed.refresh_from_db()
    assert failed.state == OutboxState.FAILED

    resender = client_with("view_outboxmessage", "resend_message", username="resender")
    listing = page(resender.get(OUTBOX_URL))
    assert 'value="resend"' in listing and 'value="send_now"' not in listing
    viewer = client_with("view_outboxmessage", username="viewer")
    assert 'value="cancel"' not in page(viewer.get(OUTBOX_URL))


def test_resend_asks_first_then_sends_again_and_records_it(
    make_profile, plain_server, django_capture_on_commit_callbacks
):
    make_profile(port=plain_server.port)
    failed = queue(
        "Failed",
        state=OutboxState.FAILED,
        attempts=3,
        last_step="connect",
        last_error="Connection refused",
        finished_at=timezone.now(),
    )
    sent = queue("Sent", state=OutboxState.SENT, content_encrypted="")
    client = client_with("view_outboxmessage", "resend_message", username="resender")

    confirmation = text(act(client, "resend", failed, sent))
    assert "These 2 messages" not in confirmation and "This message will be queued" in confirmation
    assert "“Failed” → to@example.org" in confirmation
    assert "1 message will not be resent" in confirmation
    assert "may already have been delivered" not in confirmation
    failed.refresh_from_db()
    assert failed.state == OutboxState.FAILED  # nothing happens before the answer

    with django_capture_on_commit_callbacks(execute=True):
        done = text(act(client, "resend", failed, sent, post="yes"))
    assert "1 message queued to be sent again." in done
    failed.refresh_from_db()
    assert failed.state == OutboxState.QUEUED
    assert failed.attempts == 3  # its history stays
    assert failed.last_error == "" and failed.finished_at is None
    history = LogEntry.objects.get(object_id=str(failed.pk))
    assert history.get_change_message() == "Resent."

    worker.drain(time_limit=30)
    assert [m.message["Subject"] for m in plain_server.messages] == ["Failed"]
    failed.refresh_from_db()
    assert failed.state == OutboxState.SENT and failed.attempts == 4


def test_resending_an_unknown_message_warns_it_may_arrive_twice(admin_client):
    unknown = queue("Maybe", state=OutboxState.UNKNOWN, last_step="data", last_error="Broken")
    html = text(admin_client.get(detail_url(unknown)))
    assert "the server may have accepted it" in html
    confirmation = text(act(admin_client, "resend", unknown))
    assert "1 of these messages may already have been delivered" in confirmation
    assert "will get it twice" in confirmation
    assert 'value="Yes, send them again"' in confirmation


def test_a_message_page_lists_its_attempts_from_the_delivery_log(admin_client, make_profile):
    down = make_profile(name="Down", port=free_port())
    message = queue("Try me")
    worker.drain(time_limit=30)
    message.refresh_from_db()
    assert message.state == OutboxState.DEFERRED
    entry = DeliveryLog.objects.get(message_id=message.message_id)
    assert entry.outcome == DeliveryOutcome.DEFERRED and entry.profile_id == down.pk
    html = text(admin_client.get(detail_url(message)))
    log_url = reverse("admin:smtpconfig_deliverylog_change", args=[entry.pk])
    assert f'href="{log_url}"' in html and "deferred (Down)" in html
    assert "at “Connect”" in html or "at “connect”" in html.lower()


def test_index_and_profile_list_count_the_outbox_in_one_query(admin_client, make_profile):
    main = make_profile(name="Main")
    for name in ("B", "C"):
        make_profile(name=name, is_default=False)
    queue("Queued")
    queue("Sending", state=OutboxState.SENDING)
    queue("Deferred", state=OutboxState.DEFERRED, next_attempt_at=timezone.now() + timedelta(1))
    queue("Failed", state=OutboxState.FAILED, profile=main, profile_name="Main")
    queue("Unknown", state=OutboxState.UNKNOWN, profile=main, profile_name="Main")
    queue("Sent", state=OutboxState.SENT)

    with CaptureQueriesContext(connection) as queries:
        index = text(admin_client.get(INDEX_URL))
    outbox_queries = [q for q in queries if "smtpconfig_outboxmessage" in q["sql"]]
    assert len(outbox_queries) == 2  # the counts, and how long the oldest has been due
    for shown, state in (
        ("2 waiting", "waiting"),
        ("1 deferred", "deferred"),
        ("1 failed", "failed"),
        ("1 unknown", "unknown"),
    ):
        assert shown in index
        assert f'href="{OUTBOX_URL}?state={state}"' in index
    assert "2 messages failed or unknown in the outbox" in index

    profiles = text(admin_client.get(LIST_URL))
    assert "2 waiting" in profiles and "1 failed" in profiles
    row = re.search(r"<tr>.*?>Main<.*?</tr>", profiles).group(0)
    assert "2 messages failed or unknown in the outbox" in row
    assert f"state=failed_or_unknown&amp;profile__id__exact={main.pk}" in row


def test_counts_are_not_shown_to_who_may_not_see_the_outbox(make_profile):
    make_profile()
    queue("Failed", state=OutboxState.FAILED)
    client = client_with("view_smtpprofile")
    index = page(client.get(INDEX_URL))
    assert "1 failed" in index and OUTBOX_URL not in index


def test_banner_when_messages_wait_with_no_worker(admin_client, make_profile, settings):
    make_profile()
    queue("Stuck", next_attempt_at=timezone.now() - timedelta(minutes=10, seconds=5))
    expected = "1 message has waited 10 minutes: no worker seems to be running."
    for url in (INDEX_URL, LIST_URL, OUTBOX_URL):
        html = text(admin_client.get(url))
        assert expected in html
        assert "Start one with <code>python manage.py db_worker</code>" in html

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    html = text(admin_client.get(INDEX_URL))
    assert expected in html and "Start your task workers." in html and "db_worker" not in html


def test_no_banner_while_messages_are_fresh(admin_client, make_profile):
    make_profile()
    queue("Just now")
    queue("Later", next_attempt_at=timezone.now() + timedelta(hours=1))
    assert "no worker seems to be running" not in page(admin_client.get(INDEX_URL))


def test_deferred_and_unknown_deliveries_are_not_counted_as_sent(admin_client, make_profile):
    main = make_profile(name="Main")
    attempt = {"profile": "Main", "server": "127.0.0.1:25", "step": "connect", "error": "down"}
    for outcome in (DeliveryOutcome.DEFERRED, DeliveryOutcome.UNKNOWN, DeliveryOutcome.SENT):
        DeliveryLog.objects.create(
            outcome=outcome,
            profile=main,
            profile_name="Main",
            tried=[] if outcome == DeliveryOutcome.SENT else [attempt],
        )
    row = re.search(r"<tr>.*?>Main<.*?</tr>", text(admin_client.get(LIST_URL))).group(0)
    assert "1 sent, 1 failed, 1 unknown" in row


def test_a_message_page_says_which_profiles_it_may_go_through(admin_client):
    pinned = queue("Pinned", requested_profile="Alerts", failover=None)
    chained = queue("Chained", requested_profile="Alerts", failover=True)
    default = queue("Default")
    assert "the profile “Alerts” only" in text(admin_client.get(detail_url(pinned)))
    assert "the profile “Alerts”, then the others in order" in text(
        admin_client.get(detail_url(chained))
    )
    assert "the default profile, then the others in order" in text(
        admin_client.get(detail_url(default))
    )


def test_the_list_shows_the_newest_message_first(admin_client):
    queue("Older")
    queue("Newer")
    listing = page(admin_client.get(OUTBOX_URL))
    assert listing.index("Newer") < listing.index("Older")
