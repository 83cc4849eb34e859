"""Alerts: a message failed for good or ended unknown, a profile failed over, the queue is
backing up. Real SMTP servers and a real HTTP server on 127.0.0.1, the real worker and
sweeper, PostgreSQL (or SQLite) as configured."""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.utils import timezone

from smtpconfig.models import OutboxMessage, OutboxState
from smtpconfig.outbox import alerts
from smtpconfig.outbox.store import enqueue
from smtpconfig.outbox.sweep import sweep
from smtpconfig.outbox.worker import Result, drain

from .helpers import PASSWORD, USER
from .smtpd import RecordingHandler, free_port, running_smtp_server

pytestmark = pytest.mark.django_db

ADMIN = "ops@example.com"
BODY = "Your one-time code is 918273; the body never leaves the outbox in an alert."
SECRET_PATH = "/services/T000/B000/XXXXwebhookSECRETxxxx"


@pytest.fixture
def admins(settings):
    settings.ADMINS = [("Ops", ADMIN)]
    settings.EMAIL_SUBJECT_PREFIX = "[Site] "
    # Whatever the site's backend, an alert is sent at once (never queued behind a failure).
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    return settings


def signed_in(make_profile, name, port, **fields):
    """A profile that signs in to a test server with USER and PASSWORD."""
    fields.setdefault("is_default", False)
    return make_profile(name=name, port=port, username=USER, password=PASSWORD, **fields)


def queue(subject="Invoice 42", to="nobody@example.org", **route):
    return enqueue([EmailMessage(subject, BODY, "shop@example.com", [to])], **route)[0]


def alerts_at(server) -> list:
    return [received.message for received in server.messages if received.rcpt_tos == [ADMIN]]


def subject(alert) -> str:
    # A non-ASCII subject is folded after "Subject:" as encoded words.
    return str(alert["Subject"]).strip()


@contextmanager
def running_webhook(status=200):
    """A Slack-like incoming webhook on 127.0.0.1: records each POST (path, type, body)."""
    posts: list[tuple[str, str, bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            posts.append((self.path, self.headers.get("Content-Type"), self.rfile.read(length)))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def refusing_and_good(make_profile):
    """Two signed-in profiles: "Refusing" (its server answers 550 to every RCPT) and
    "Good"."""
    with (
        running_smtp_server(
            handler=RecordingHandler(rcpt_reply="550 5.1.1 No such user"),
            users={USER: PASSWORD},
        ) as refusing,
        running_smtp_server(users={USER: PASSWORD}) as good,
    ):
        signed_in(make_profile, "Refusing", refusing.port, is_default=True)
        signed_in(make_profile, "Good", good.port, priority=2)
        yield refusing, good


def test_a_message_failing_for_good_sends_one_alert_through_another_profile(
    admins, refusing_and_good
):
    refusing, good = refusing_and_good
    key = queue(requested_profile="Refusing")

    assert drain().failed == 1

    row = OutboxMessage.objects.get(pk=key)
    assert row.state == OutboxState.FAILED
    assert refusing.messages == []  # the alert did not go through the failing profile
    [alert] = alerts_at(good)
    assert len(good.messages) == 1
    assert alert["To"] == ADMIN
    assert subject(alert) == "[Site] A message could not be sent through SMTP profile “Refusing”"
    text = alert.get_content()
    assert "Failed at step: rcpt" in text
    assert "550 5.1.1 No such user" in text  # the error as the outbox recorded it
    assert row.last_error.split()[0] in text
    assert f"Message-ID: {row.message_id}" in text
    assert "Recipients: nobody@example.org" in text
    assert "Subject: Invoice 42" in text
    assert "Messages: 1" in text
    assert "/admin/smtpconfig/" in text
    raw = good.messages[0].data.decode("utf-8", "replace")
    assert "918273" not in raw and PASSWORD not in raw
    # Sent at once through EmailBackend, not queued, and not through Django's outbox.
    assert OutboxMessage.objects.count() == 1
    assert mail.outbox == []


def test_one_alert_per_profile_and_kind_per_interval_then_a_count_of_those_held_back(
    admins, refusing_and_good
):
    _refusing, good = refusing_and_good
    queue(requested_profile="Refusing")
    drain()
    queue(subject="Invoice 43", requested_profile="Refusing")
    queue(subject="Invoice 44", requested_profile="Refusing")

    assert drain().failed == 2
    assert len(alerts_at(good)) == 1

    # The interval has passed (its key expired): the next alert counts those held back.
    cache.delete(alerts._throttle_key(alerts.FAILED, "Refusing"))
    queue(subject="Invoice 45", requested_profile="Refusing")
    drain()
    first, second = alerts_at(good)
    assert "more alert" not in first.get_content()
    text = second.get_content()
    assert "Subject: Invoice 45" in text
    assert "2 more alerts like this since" in text


def test_a_failover_sends_one_alert_and_the_message_still_goes_out(admins, make_profile):
    down_port = free_port()
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Down", down_port, is_default=True)
        signed_in(make_profile, "Good", good.port, priority=2)
        key = queue()

        assert drain().sent == 1
        queue(subject="Invoice 43")
        assert drain().sent == 1  # fails over again: within the interval, no second alert

    assert OutboxMessage.objects.get(pk=key).profile_name == "Good"
    [alert] = alerts_at(good)
    assert len(good.messages) == 3
    assert subject(alert) == "[Site] SMTP profile “Down” failed; mail goes through “Good”"
    text = alert.get_content()
    assert f"Profile: Down (127.0.0.1:{down_port})" in text
    assert "Failed at step: connect" in text
    assert "refused the connection" in text
    assert "Subject: Invoice 42" in text
    assert "918273" not in text


def test_the_alerts_own_email_failing_over_raises_no_further_alert(settings, admins, make_profile):
    # Every failover alerts (no interval): without the guard the alert's own failovers
    # would each raise another alert, without end.
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ALERT_INTERVAL": 0}
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Down 1", free_port(), is_default=True)
        signed_in(make_profile, "Down 2", free_port(), priority=2)
        signed_in(make_profile, "Good", good.port, priority=3)
        queue()

        assert drain().sent == 1

    subjects = [subject(alert) for alert in alerts_at(good)]
    assert subjects == [
        "[Site] SMTP profile “Down 1” failed; mail goes through “Down 2”",
        "[Site] SMTP profile “Down 2” failed; mail goes through “Good”",
    ]
    assert len(good.messages) == 3


def test_the_sweeper_alerts_when_the_queue_backs_up(admins, make_profile):
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Good", good.port, is_default=True)
        key = queue()
        OutboxMessage.objects.filter(pk=key).update(
            next_attempt_at=timezone.now() - timedelta(minutes=10)
        )

        result = sweep()
        sweep()  # again within the interval: no second alert

    assert result.waiting == 1
    [alert] = alerts_at(good)
    assert len(good.messages) == 1  # the alert only: the sweeper sends no mail
    assert subject(alert) == "[Site] The outbox is backing up: 1 message waiting"
    text = alert.get_content()
    assert "The oldest has been due for 10 minutes." in text
    assert "Messages: 1" in text


def test_an_unknown_message_alerts_that_a_person_must_decide(admins, make_profile):
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Good", good.port, is_default=True)
        row = OutboxMessage.objects.get(pk=queue())

        alerts.message_failed(
            row,
            Result(
                OutboxState.UNKNOWN,
                step="data",
                error="the connection closed",
                profile_name="Good",
            ),
        )

    [alert] = alerts_at(good)
    assert subject(alert) == (
        "[Site] A message may or may not have been sent through SMTP profile “Good”"
    )
    assert "a person must decide" in alert.get_content()


def test_the_webhook_gets_the_alert_once_as_slack_json_without_body_or_secret(
    settings, refusing_and_good
):
    with running_webhook() as (base, posts):
        settings.SMTPCONFIG = {
            **settings.SMTPCONFIG,
            "ALERT_WEBHOOK_URL": base + SECRET_PATH,
            "ALERT_WEBHOOK_ALLOW_HTTP": True,
        }
        key = queue(requested_profile="Refusing")
        drain()
        queue(subject="Invoice 43", requested_profile="Refusing")
        drain()

    [(path, content_type, body)] = posts
    assert path == SECRET_PATH
    assert content_type == "application/json"
    payload = json.loads(body)
    row = OutboxMessage.objects.get(pk=key)
    text = payload["text"]
    assert text.startswith("*A message could not be sent through SMTP profile “Refusing”*\n")
    assert "Failed at step: rcpt" in text
    # Slack reads <…> as a link: the Message-ID's brackets are escaped.
    assert row.message_id.replace("<", "&lt;").replace(">", "&gt;") in text
    assert "918273" not in body.decode() and PASSWORD not in body.decode()
    # No ADMINS: the webhook alone.
    for server in refusing_and_good:
        assert server.messages == []


def test_http_webhook_refused_without_the_option(settings, refusing_and_good, caplog):
    with running_webhook() as (base, posts):
        settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ALERT_WEBHOOK_URL": base + SECRET_PATH}
        with caplog.at_level(logging.WARNING, logger="smtpconfig"):
            queue(requested_profile="Refusing")
            drain()

    assert posts == []
    assert "ALERT_WEBHOOK_URL must be an https:// URL" in caplog.text


def test_a_webhook_that_is_down_changes_nothing_for_delivery(
    settings, admins, caplog, make_profile
):
    settings.SMTPCONFIG = {
        **settings.SMTPCONFIG,
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}{SECRET_PATH}",
        "ALERT_WEBHOOK_ALLOW_HTTP": True,
    }
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Down", free_port(), is_default=True)
        signed_in(make_profile, "Good", good.port, priority=2)
        key = queue()
        with caplog.at_level(logging.WARNING, logger="smtpconfig"):
            assert drain().sent == 1

    assert OutboxMessage.objects.get(pk=key).state == OutboxState.SENT
    assert len(alerts_at(good)) == 1  # the email went out all the same
    assert "Could not post an alert to the webhook at 127.0.0.1 (failover)" in caplog.text
    assert "SECRET" not in caplog.text  # the webhook's URL is never logged


def test_no_admins_and_no_webhook_means_no_alert(settings, refusing_and_good):
    settings.ADMINS = []
    queue(requested_profile="Refusing")

    assert drain().failed == 1
    assert cache.get(alerts._throttle_key(alerts.FAILED, "Refusing")) is None
    assert all(server.messages == [] for server in refusing_and_good)


def test_a_message_whose_profile_is_gone_alerts_when_it_gives_up(settings, admins, make_profile):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_MAX_ATTEMPTS": 1}
    with running_smtp_server(users={USER: PASSWORD}) as good:
        signed_in(make_profile, "Good", good.port, is_default=True)
        key = queue(requested_profile="Gone")

        assert drain().failed == 1

    assert OutboxMessage.objects.get(pk=key).state == OutboxState.FAILED
    [alert] = alerts_at(good)
    assert subject(alert) == "[Site] A message could not be sent through SMTP profile “Gone”"
    assert "There is no SMTP profile named “Gone”." in alert.get_content()


def test_without_a_working_cache_each_process_spaces_alerts_out_alone(
    settings, admins, refusing_and_good, tmp_path, caplog
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(blocker / "cache"),  # under a file: every write fails
        }
    }
    alerts._local_turns.until.clear()
    _refusing, good = refusing_and_good
    with caplog.at_level(logging.WARNING, logger="smtpconfig"):
        queue(requested_profile="Refusing")
        queue(subject="Invoice 43", requested_profile="Refusing")
        assert drain().failed == 2

    assert len(alerts_at(good)) == 1
    assert "Could not use the default cache to space out alerts" in caplog.text
