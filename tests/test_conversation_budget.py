"""One deadline for a whole conversation, against servers that answer just inside the timeout.

The profiles here have a timeout of 1 s, so each conversation (a test; or
opening a connection; or sending one message) has 3 s. Each server below stays
under the timeout at every single wait and would take far longer in all. The
bounds asserted are generous (the budget plus 3 s): they say "it ended", not
how fast.
"""

from __future__ import annotations

import json
import smtplib
import socket
import threading
import time

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection

from smtpconfig.models import DeliveryLog, DeliveryOutcome, Security
from smtpconfig.probe import ProbeSettings, run_probe

from .helpers import PASSWORD, USER
from .smtpd import PLAIN_REPLIES, running_smtp_server, scripted_server, slowly

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]

TIMEOUT = 1
BUDGET = 3 * TIMEOUT
SLACK = 3
#: Just under the timeout: no single wait ever runs out.
NEARLY = 0.8
RECIPIENT = "to@example.org"
GREETING = b"220 slow.test ESMTP\r\n"


def slow(replies: dict[bytes, bytes]) -> dict:
    return {word: slowly(reply, NEARLY) for word, reply in replies.items()}


def probe(port: int, **overrides):
    values = {
        "host": "127.0.0.1",
        "port": port,
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "timeout": TIMEOUT,
    }
    return run_probe(ProbeSettings(**{**values, **overrides}), RECIPIENT)


def profile(make_profile, name: str, port: int, priority: int, **fields):
    fields.setdefault("timeout", TIMEOUT)
    return make_profile(name=name, port=port, priority=priority, is_default=False, **fields)


def elapsed_since(started: float) -> float:
    return time.monotonic() - started


# The test (probe).


def test_probe_ends_within_its_budget_when_every_reply_comes_just_inside_the_timeout():
    """Seven replies of 0.8 s each would take 5.6 s: the test stops at 3 s and says why."""
    with scripted_server(slowly(GREETING, NEARLY), slow(PLAIN_REPLIES)) as server:
        started = time.monotonic()
        report = probe(server.port)
        took = elapsed_since(started)
        assert server.received == []
    assert took < BUDGET + SLACK
    assert not report.ok
    assert report.diagnosis.code == "conversation_timeout"
    assert report.diagnosis.field == "timeout"
    assert "3 s" in report.failed_step.detail and "whole test" in report.failed_step.detail


def test_the_cap_bounds_a_long_timeout(settings):
    """MAX_CONVERSATION_SECONDS wins over three times a long timeout."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "MAX_CONVERSATION_SECONDS": 2}
    with scripted_server(slowly(GREETING, NEARLY), slow(PLAIN_REPLIES)) as server:
        started = time.monotonic()
        report = probe(server.port, timeout=5)
    assert elapsed_since(started) < 2 + SLACK
    assert report.diagnosis.code == "conversation_timeout"


@pytest.mark.parametrize(
    ("timeout", "cap", "expected"),
    [(1, 25, 3), (10, 25, 25), (10, None, 30), (None, 25, 25), (None, None, None)],
)
def test_conversation_budget_is_three_timeouts_at_most_the_cap(settings, timeout, cap, expected):
    from smtpconfig.transport.deadline import conversation_budget

    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "MAX_CONVERSATION_SECONDS": cap}
    assert conversation_budget(timeout) == expected


def starttls_then_drip(connection: socket.socket, line: bytes, stop: threading.Event) -> None:
    """Accepts STARTTLS (after 0.8 s, like every reply), then starts a TLS record of 16 KiB
    and sends a byte of it every 0.3 s."""
    stop.wait(NEARLY)
    connection.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    connection.sendall(b"\x16\x03\x03\x40\x00")
    for _ in range(33):  # 10 s at most
        if stop.wait(0.3):
            return
        connection.sendall(b"\x00")


#: STARTTLS is answered 2.4 s into the conversation, and its handshake never ends.
LATE_STARTTLS = {
    **slow({**PLAIN_REPLIES, b"EHLO": b"250-slow.test\r\n250 STARTTLS\r\n"}),
    b"STARTTLS": starttls_then_drip,
}


def test_probe_gives_a_late_tls_handshake_only_what_is_left_of_its_budget(ca_pem):
    """The handshake starts 2.4 s in: it may take the 0.6 s left, not a whole timeout."""
    with scripted_server(slowly(GREETING, NEARLY), LATE_STARTTLS) as server:
        started = time.monotonic()
        report = probe(server.port, security=Security.STARTTLS, ca_certificate=ca_pem)
        took = elapsed_since(started)
    assert took < BUDGET + SLACK
    assert (report.failed_step.name, report.diagnosis.code) == ("tls", "conversation_timeout")


# The backend.


SLOW_MESSAGE = {
    **PLAIN_REPLIES,
    **slow({word: PLAIN_REPLIES[word] for word in (b"MAIL", b"RCPT", b"DATA")}),
}


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raises", "fail_silently"])
def test_backend_gives_up_within_the_budget_when_the_message_goes_slowly(
    make_profile, fail_silently
):
    """Greeting and EHLO are quick; MAIL, RCPT, DATA and the final reply take 0.8 s each:
    the message's budget ends before its final reply. It is reported (a TimeoutError, so
    an OSError, or 0 with fail_silently), never sent again elsewhere (the server may have
    it), and logged as failed at step "data"."""
    with (
        scripted_server(GREETING, SLOW_MESSAGE, after_data=slowly(b"250 OK\r\n", NEARLY)) as server,
        running_smtp_server() as other,
    ):
        profile(make_profile, "Slow", server.port, 1)
        profile(make_profile, "Other", other.port, 2)
        started = time.monotonic()
        if fail_silently:
            assert mail.send_mail("Slow", "Body", None, [RECIPIENT], fail_silently=True) == 0
        else:
            with pytest.raises(TimeoutError) as excinfo:
                mail.send_mail("Slow", "Body", None, [RECIPIENT])
            assert "3 s" in str(excinfo.value)
            assert not isinstance(excinfo.value, smtplib.SMTPException)
        took = elapsed_since(started)
        assert other.messages == []
    assert took < BUDGET + SLACK
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Slow", "data")]
    assert "too slowly" in entry.tried[0]["error"]


def test_backend_fails_over_when_opening_the_connection_outlasts_its_budget(make_profile):
    """Greeting, EHLO, AUTH LOGIN and its password at 0.8 s each take 3.2 s: past the
    opening's budget, before any message, so the next profile sends it, once."""
    replies = slow(
        {
            **PLAIN_REPLIES,
            b"EHLO": b"250-slow.test\r\n250 AUTH LOGIN\r\n",
            b"AUTH": b"334 UGFzc3dvcmQ6\r\n",
            b"*": b"235 2.7.0 Authentication successful\r\n",
        }
    )
    with (
        scripted_server(slowly(GREETING, NEARLY), replies) as slow_server,
        running_smtp_server() as good,
    ):
        profile(make_profile, "Slow", slow_server.port, 1, username=USER, password=PASSWORD)
        profile(make_profile, "Good", good.port, 2)
        started = time.monotonic()
        assert mail.send_mail("Slow", "Body", None, [RECIPIENT]) == 1
        assert elapsed_since(started) < BUDGET + SLACK
        assert len(good.messages) == 1
        assert not any(command.startswith(b"MAIL") for command in slow_server.commands)
    entry = DeliveryLog.objects.get()
    assert (entry.outcome, entry.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Slow", "auth")]
    assert "connecting and logging in" in json.dumps(entry.tried)


def test_backend_fails_over_when_a_late_tls_handshake_outlasts_the_opening_budget(
    make_profile, ca_pem
):
    with (
        scripted_server(slowly(GREETING, NEARLY), LATE_STARTTLS) as late,
        running_smtp_server() as good,
    ):
        profile(
            make_profile, "Late", late.port, 1, security=Security.STARTTLS, ca_certificate=ca_pem
        )
        profile(make_profile, "Good", good.port, 2)
        started = time.monotonic()
        assert mail.send_mail("Slow", "Body", None, [RECIPIENT]) == 1
        assert elapsed_since(started) < BUDGET + SLACK
        assert len(good.messages) == 1
    entry = DeliveryLog.objects.get()
    assert (entry.outcome, entry.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Late", "tls")]
    assert "too slowly" in entry.tried[0]["error"]


@pytest.mark.parametrize("with_profile", [True, False], ids=["profile", "EMAIL_settings"])
def test_an_open_connection_left_idle_past_the_budget_still_sends(
    make_profile, settings, with_profile
):
    """The budget covers opening and each message, not the time between: a connection
    opened and used later is not cut by the watchdog."""
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "MAX_CONVERSATION_SECONDS": 1}
    with running_smtp_server() as server:
        if with_profile:
            profile(make_profile, "Main", server.port, 1, timeout=5)
        else:
            settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
                "127.0.0.1",
                server.port,
                5,
            )
        connection = get_connection()
        assert connection.open()
        time.sleep(1.5)
        message = EmailMessage("Later", "Body", "from@example.com", [RECIPIENT])
        assert connection.send_messages([message]) == 1
        time.sleep(1.5)
        assert connection.send_messages([message]) == 1
        connection.close()
        assert len(server.messages) == 2


def test_watchdog_shuts_a_connection_down_at_its_deadline_and_forgets_disarmed_ones():
    from smtpconfig.transport.deadline import WATCHDOG

    left, right = socket.socketpair()
    with left, right:
        for _ in range(3000):  # a busy backend: armed and disarmed once per message
            watch = WATCHDOG.watch(left, time.monotonic() + 60)
            WATCHDOG.close(watch)
        assert len(WATCHDOG._heap) <= 2048
        watch = WATCHDOG.watch(left, time.monotonic() + 0.2)
        right.settimeout(5)
        assert right.recv(1) == b""  # the watchdog shut the connection down
    assert watch.sock is None
