"""Failover, routing, signals and the delivery log, against real servers on 127.0.0.1."""

import smtplib

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection
from django.db import connection as db_connection

from smtpconfig import signals
from smtpconfig.backends import DeliveryFailed
from smtpconfig.models import DeliveryLog, DeliveryOutcome, SMTPProfile

from .helpers import PASSWORD, USER, run_in_another_process
from .smtpd import PLAIN_REPLIES, RecordingHandler, free_port, running_smtp_server, scripted_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]


@pytest.fixture
def fired():
    """Every failover and delivery_failed signal sent during the test."""
    events = {"failover": [], "delivery_failed": []}

    def on_failover(sender, **kwargs):
        events["failover"].append(kwargs)

    def on_failed(sender, **kwargs):
        events["delivery_failed"].append(kwargs)

    signals.failover.connect(on_failover)
    signals.delivery_failed.connect(on_failed)
    yield events
    signals.failover.disconnect(on_failover)
    signals.delivery_failed.disconnect(on_failed)


def profile(make_profile, name, port, priority, **fields):
    return make_profile(name=name, port=port, priority=priority, is_default=False, **fields)


def test_fails_over_past_stopped_busy_and_refusing_servers_to_a_good_one(make_profile, fired):
    with (
        scripted_server(b"421 4.3.2 Too busy, try later\r\n") as busy,
        running_smtp_server(users={USER: PASSWORD}) as refusing,
        running_smtp_server() as good,
    ):
        stopped_port = free_port()
        profile(make_profile, "Stopped", stopped_port, 1)
        profile(make_profile, "Busy", busy.port, 2)
        profile(make_profile, "Refusing", refusing.port, 3, username=USER, password="Wr0ng")
        profile(make_profile, "Good", good.port, 4)

        assert mail.send_mail("Hello", "Body", None, ["to@example.org"]) == 1

        assert len(good.messages) == 1
        assert refusing.messages == []
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED_OVER
    assert entry.profile_name == "Good"
    assert [(t["profile"], t["step"]) for t in entry.tried] == [
        ("Stopped", "connect"),
        ("Busy", "ehlo"),
        ("Refusing", "auth"),
    ]
    assert "refused the connection" in entry.tried[0]["error"]
    assert "temporary" in entry.tried[1]["error"]
    assert "535" in entry.tried[2]["error"]
    assert [(e["failed_profile"], e["next_profile"]) for e in fired["failover"]] == [
        ("Stopped", "Busy"),
        ("Busy", "Refusing"),
        ("Refusing", "Good"),
    ]
    assert [(e["step"], e["server"]) for e in fired["failover"]] == [
        ("connect", f"127.0.0.1:{stopped_port}"),
        ("ehlo", f"127.0.0.1:{busy.port}"),
        ("auth", f"127.0.0.1:{refusing.port}"),
    ]
    assert fired["delivery_failed"] == []


def test_default_profile_goes_first_then_priority(make_profile):
    with running_smtp_server() as low, running_smtp_server() as default:
        profile(make_profile, "Low number", low.port, 1)
        make_profile(name="Default", port=default.port, priority=50, is_default=True)
        mail.send_mail("Hi", "Body", None, ["to@example.org"])
        assert len(default.messages) == 1 and low.messages == []


def test_temporary_recipient_refusal_moves_on_before_anything_is_accepted(make_profile):
    handler = RecordingHandler(rcpt_reply="451 4.7.1 Greylisted, try again later")
    with running_smtp_server(handler=handler) as greylisting, running_smtp_server() as good:
        profile(make_profile, "Greylisting", greylisting.port, 1)
        profile(make_profile, "Good", good.port, 2)
        assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
        assert len(good.messages) == 1
    assert DeliveryLog.objects.get().tried[0]["step"] == "rcpt"


def test_permanent_refusal_is_not_failed_over(make_profile):
    handler = RecordingHandler(rcpt_reply="550 5.1.1 No such user")
    with running_smtp_server(handler=handler) as strict, running_smtp_server() as other:
        profile(make_profile, "Strict", strict.port, 1)
        profile(make_profile, "Other", other.port, 2)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            mail.send_mail("Hi", "Body", None, ["nobody@example.org"])
        assert other.messages == []
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert "550" in entry.reply


def test_no_second_copy_when_the_server_drops_after_taking_the_message(make_profile, fired):
    with (
        scripted_server(b"220 flaky.test\r\n", PLAIN_REPLIES, after_data=None) as flaky,
        running_smtp_server() as other,
    ):
        profile(make_profile, "Flaky", flaky.port, 1)
        profile(make_profile, "Other", other.port, 2)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            mail.send_mail("Once only", "Body", None, ["to@example.org"])
        assert len(flaky.received) == 1  # the server has the message...
        assert other.messages == []  # ...so it is not sent again elsewhere
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert entry.tried[0]["step"] == "data"
    assert len(fired["delivery_failed"]) == 1


def test_drop_after_the_server_accepted_counts_as_sent(make_profile):
    with (
        scripted_server(
            b"220 flaky.test\r\n",
            PLAIN_REPLIES,
            after_data=b"250 OK queued\r\n",
            close_after_data=True,
        ) as flaky,
        running_smtp_server() as other,
    ):
        profile(make_profile, "Flaky", flaky.port, 1)
        profile(make_profile, "Other", other.port, 2)
        assert mail.send_mail("Once", "Body", None, ["to@example.org"]) == 1
        assert len(flaky.received) == 1 and other.messages == []
    assert DeliveryLog.objects.get().outcome == DeliveryOutcome.SENT


def test_temporary_refusal_of_the_message_itself_moves_on(make_profile):
    with (
        scripted_server(
            b"220 busy.test\r\n", PLAIN_REPLIES, after_data=b"451 4.3.0 Try later\r\n"
        ) as busy,
        running_smtp_server() as good,
    ):
        profile(make_profile, "Busy", busy.port, 1)
        profile(make_profile, "Good", good.port, 2)
        assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
        assert len(good.messages) == 1


def test_every_profile_failing_raises_an_error_naming_each(make_profile, fired):
    with running_smtp_server(users={USER: PASSWORD}) as refusing:
        profile(make_profile, "First", free_port(), 1)
        profile(make_profile, "Second", refusing.port, 2, username=USER, password="nope")
        with pytest.raises(DeliveryFailed) as excinfo:
            mail.send_mail("Hi", "Body", None, ["to@example.org"])
    text = str(excinfo.value)
    assert "“First”" in text and "refused the connection" in text
    assert "“Second”" in text and "535" in text
    assert "nope" not in text
    assert [a.profile for a in excinfo.value.attempts] == ["First", "Second"]
    assert isinstance(excinfo.value, smtplib.SMTPException)
    assert DeliveryLog.objects.get().outcome == DeliveryOutcome.FAILED
    assert fired["delivery_failed"][0]["attempts"][0][0] == "First"


def test_fail_silently_still_logs_and_signals(make_profile, fired):
    profile(make_profile, "Only", free_port(), 1)
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"], fail_silently=True) == 0
    assert DeliveryLog.objects.get().outcome == DeliveryOutcome.FAILED
    assert len(fired["delivery_failed"]) == 1


def test_named_profile_is_pinned_unless_failover_is_asked(make_profile):
    with running_smtp_server() as good:
        profile(make_profile, "Down", free_port(), 1)
        profile(make_profile, "Good", good.port, 2)
        with pytest.raises(ConnectionRefusedError):
            mail.send_mail(
                "Hi", "B", None, ["to@example.org"], connection=get_connection(profile="Down")
            )
        assert good.messages == []
        pinned_with_failover = get_connection(profile="Down", failover=True)
        assert (
            mail.send_mail("Hi", "B", None, ["to@example.org"], connection=pinned_with_failover)
            == 1
        )
        assert len(good.messages) == 1


def test_sender_domain_routes_to_the_profile_that_serves_it(make_profile):
    with running_smtp_server() as main, running_smtp_server() as shop:
        make_profile(name="Main", port=main.port, is_default=True)
        profile(make_profile, "Shop", shop.port, 1, sender_domains="shop.example, Example.NET")
        mail.send_mail("Order", "Body", "Shop <orders@example.net>", ["to@example.org"])
        mail.send_mail("Newsletter", "Body", None, ["to@example.org"])
        assert [m.message["Subject"] for m in shop.messages] == ["Order"]
        assert [m.message["Subject"] for m in main.messages] == ["Newsletter"]
    assert SMTPProfile.objects.get(name="Shop").sender_domain_list == [
        "shop.example",
        "example.net",
    ]


def test_a_batch_after_failover_stays_on_the_working_profile(make_profile):
    with running_smtp_server() as good:
        profile(make_profile, "Down", free_port(), 1)
        profile(make_profile, "Good", good.port, 2)
        messages = [EmailMessage(f"M{n}", "Body", to=["to@example.org"]) for n in range(3)]
        assert get_connection().send_messages(messages) == 3
        assert len(good.messages) == 3
    entries = DeliveryLog.objects.order_by("id")
    assert [e.outcome for e in entries] == [DeliveryOutcome.FAILED_OVER] * 3
    assert all(e.tried[0]["profile"] == "Down" for e in entries)


def test_log_row_describes_the_message_not_its_body(make_profile, plain_server):
    make_profile(port=plain_server.port)
    message = EmailMessage(
        "Welcome", "Secret body text", to=["a@example.org"], cc=["b@example.org"]
    )
    message.send()
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.SENT
    assert entry.profile.name == "Main"
    assert entry.sender == "Example Site <noreply@example.com>"
    assert entry.recipients == "a@example.org, b@example.org"
    assert entry.subject == "Welcome"
    assert entry.reply.startswith("250") and "queued as" in entry.reply
    assert entry.message_id.startswith("<")
    assert entry.duration > 0
    assert "Secret body text" not in str(entry.__dict__)


def test_log_can_be_switched_off(make_profile, plain_server, settings):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DELIVERY_LOG": False}
    make_profile(port=plain_server.port)
    assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
    assert not DeliveryLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_broken_log_never_makes_a_send_fail(make_profile, plain_server, caplog):
    make_profile(port=plain_server.port)
    with db_connection.cursor() as cursor:  # a real failure: the table is gone
        cursor.execute("DROP TABLE smtpconfig_deliverylog")
    try:
        assert mail.send_mail("Hi", "Body", None, ["to@example.org"]) == 1
        assert len(plain_server.messages) == 1
        assert "delivery log rows" in caplog.text
    finally:
        with db_connection.schema_editor() as editor:
            editor.create_model(DeliveryLog)


def test_log_inside_the_callers_transaction_leaves_it_usable(make_profile, plain_server):
    from django.db import transaction

    make_profile(port=plain_server.port)
    with transaction.atomic():
        assert mail.send_mail("In a transaction", "Body", None, ["to@example.org"]) == 1
        assert DeliveryLog.objects.get().subject == "In a transaction"
        SMTPProfile.objects.update(from_name="Still usable")
    assert SMTPProfile.objects.get().from_name == "Still usable"


def test_prune_log_keeps_the_retention_window(make_profile, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    old = DeliveryLog.objects.create(outcome="sent", subject="old")
    DeliveryLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    DeliveryLog.objects.create(outcome="sent", subject="new")
    call_command("smtp_prune_log")
    assert list(DeliveryLog.objects.values_list("subject", flat=True)) == ["new"]
    call_command("smtp_prune_log", "--days", "0")
    assert not DeliveryLog.objects.exists()


def test_delivery_log_admin_is_read_only_with_filters_and_search(admin_client, make_profile):
    from django.urls import reverse

    DeliveryLog.objects.create(
        outcome="failed_over",
        subject="Invoice 42",
        recipients="buyer@example.org",
        profile_name="Good",
        tried=[{"profile": "Down", "server": "x:25", "step": "connect", "error": "refused"}],
    )
    url = reverse("admin:smtpconfig_deliverylog_changelist")
    html = admin_client.get(url, {"q": "buyer@example.org"}).content.decode()
    assert "Invoice 42" in html and "sent after failover" in html
    assert (
        admin_client.get(url, {"outcome__exact": "sent"}).content.decode().count("Invoice 42") == 0
    )
    assert admin_client.get(reverse("admin:smtpconfig_deliverylog_add")).status_code == 403
    entry = DeliveryLog.objects.get()
    detail = admin_client.get(reverse("admin:smtpconfig_deliverylog_change", args=[entry.pk]))
    assert "Down" in detail.content.decode() and "refused" in detail.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_change_saved_in_another_process_is_used_by_the_next_connection(make_profile):
    with running_smtp_server() as first, running_smtp_server() as second:
        make_profile(port=first.port)
        mail.send_mail("One", "Body", None, ["to@example.org"])  # caches the profile here

        run_in_another_process(
            "from smtpconfig.models import SMTPProfile; p = SMTPProfile.objects.get(); "
            f"p.port = {second.port}; p.save()"
        )

        mail.send_mail("Two", "Body", None, ["to@example.org"])
        assert [m.message["Subject"] for m in first.messages] == ["One"]
        assert [m.message["Subject"] for m in second.messages] == ["Two"]


@pytest.mark.django_db(transaction=True)
def test_log_rows_written_outside_a_transaction_read_back_intact(make_profile):
    from django.utils import timezone

    with running_smtp_server() as good:
        profile(make_profile, "Down", free_port(), 1)
        kept = profile(make_profile, "Good", good.port, 2)
        before = timezone.now()
        messages = [EmailMessage(f"Ünïcode {n}", "Body", to=["to@example.org"]) for n in range(2)]
        assert get_connection().send_messages(messages) == 2
    entries = list(DeliveryLog.objects.order_by("id"))
    assert [e.subject for e in entries] == ["Ünïcode 0", "Ünïcode 1"]
    assert all(e.profile_id == kept.pk and e.outcome == "failed_over" for e in entries)
    assert entries[0].tried[0]["profile"] == "Down"
    assert before <= entries[0].created_at <= timezone.now()


def test_an_implicit_tls_profile_whose_port_refuses_is_logged_as_a_connection_failure(
    make_profile,
):
    profile(make_profile, "Implicit TLS", free_port(), 1, security="ssl")
    with pytest.raises(ConnectionRefusedError):
        mail.send_mail("Hi", "Body", None, ["to@example.org"])
    attempt = DeliveryLog.objects.get().tried[0]
    assert attempt["step"] == "connect"
    assert "refused the connection" in attempt["error"]
