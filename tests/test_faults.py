"""Fault injection: real servers on 127.0.0.1 that misbehave, against the backend and the probe.

Each case checks the same four promises:

- a clear error (the profile and the step named) within the profile's timeout plus one second;
- a delivery log row that records what happened;
- no message lost silently: an exception, or ``fail_silently`` returning 0 with a "failed" row;
- no message sent twice: what every server received is counted.

The misbehaving servers are raw TCP servers scripted connection by connection (see
:func:`raw_server`); they only listen on 127.0.0.1 and every wait in them ends when the
test's ``with`` block does, so each test stops by itself.
"""

from __future__ import annotations

import contextlib
import datetime
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.core import mail

from smtpconfig.backends import DeliveryFailed
from smtpconfig.models import DeliveryLog, DeliveryOutcome, Security
from smtpconfig.probe import ProbeSettings, run_probe

from .helpers import PASSWORD, USER
from .smtpd import PLAIN_REPLIES, running_smtp_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]

#: The profiles' timeout in these tests (seconds); every verdict must come within it plus one.
TIMEOUT = 1
RECIPIENT = "to@example.org"

GREETING = b"220 faulty.test ESMTP\r\n"
EHLO_AUTH = b"250-faulty.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
EHLO_STARTTLS = b"250-faulty.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
QUEUED = b"250 2.0.0 OK queued as FAULTY\r\n"

#: In a script: never answer (until the test ends).
HANG = "hang"
#: In a script: drop the connection without a word.
CLOSE = "close"

# No server thread outlives its test by more than this, whatever the client does.
_SERVER_IO_LIMIT = 15.0


# Raw servers, scripted connection by connection.


@dataclass
class RawServer:
    """A scripted server: where it listens and everything it was sent."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    #: Connections accepted so far.
    connections: int = 0
    #: Every command line received, on any connection.
    commands: list[bytes] = field(default_factory=list)
    #: Every complete message received (up to the final "."), accepted or not.
    messages: list[bytes] = field(default_factory=list)
    #: The messages the server answered 250 to: the ones it has.
    accepted: list[bytes] = field(default_factory=list)
    #: What a connection dropped in the middle of a message had received of it.
    partial: list[bytes] = field(default_factory=list)

    def saw(self, command: bytes) -> bool:
        return any(line.split(b" ")[0].upper() == command for line in self.commands)


class Channel:
    """One accepted connection, as a script sees it."""

    def __init__(self, sock: socket.socket, server: RawServer, number: int):
        self.sock = sock
        self.server = server
        #: 0 for the first connection the server accepted, 1 for the next...
        self.number = number
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def command(self) -> bytes | None:
        """The next command line; None when the client has gone."""
        while b"\r\n" not in self.buffer:
            if not self._fill():
                return None
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        self.server.commands.append(line)
        return line

    def message(self) -> bytes | None:
        """The message after a 354 reply, up to the final "."; None if it never ends."""
        while b"\r\n.\r\n" not in self.buffer:
            if not self._fill():
                return None
        message, self.buffer = self.buffer.split(b"\r\n.\r\n", 1)
        self.server.messages.append(message)
        return message

    def part_of_message(self) -> bytes:
        """Whatever of the message has arrived so far (at least one byte, if any comes)."""
        if not self.buffer:
            self._fill()
        self.server.partial.append(self.buffer)
        return self.buffer

    def until_closed(self) -> None:
        """Read and ignore everything until the client closes the connection."""
        while self._fill():
            self.buffer = b""

    def wait(self, seconds: float) -> None:
        """Sleep, but no longer than the test."""
        self.server.stop.wait(seconds)

    def hang(self) -> None:
        """Say nothing more, until the test ends."""
        self.server.stop.wait(_SERVER_IO_LIMIT)


Script = Callable[[Channel], None]


@contextlib.contextmanager
def raw_server(script: Script) -> Iterator[RawServer]:
    """A TCP server on 127.0.0.1 running ``script`` on each connection, then closing it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = RawServer(listener.getsockname()[1])
    connections: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def talk(channel: Channel) -> None:
        with contextlib.suppress(OSError):
            script(channel)
        channel.sock.close()

    def accept() -> None:
        while not server.stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.settimeout(_SERVER_IO_LIMIT)
            connections.append(connection)
            channel = Channel(connection, server, server.connections)
            server.connections += 1
            thread = threading.Thread(target=talk, args=(channel,), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        server.stop.set()
        acceptor.join(5)
        listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
        for thread in threads:
            thread.join(5)


Reply = bytes | str | tuple


def speak(
    channel: Channel,
    replies: dict[bytes, Reply],
    *,
    greeting: Reply = GREETING,
    after_message: Reply = QUEUED,
) -> None:
    """A plain SMTP dialogue: each reply is bytes to send, HANG, CLOSE, or a tuple of those.

    A command with no entry in ``replies`` ends the connection.
    """

    def act(reply: Reply) -> bool:
        """Do what ``reply`` says; False when the conversation is over."""
        for part in reply if isinstance(reply, tuple) else (reply,):
            if part == HANG:
                channel.hang()
                return False
            if part == CLOSE:
                return False
            channel.send(part)
        return True

    if not act(greeting):
        return
    while (line := channel.command()) is not None:
        reply = replies.get(line.split(b" ")[0].upper())
        if reply is None or not act(reply):
            return
        if isinstance(reply, bytes) and reply.startswith(b"354"):
            message = channel.message()
            if message is None:
                return
            # Recorded before the reply goes out: a client that keeps its connection (the
            # pool) returns on the 250 and may look before this thread runs again.
            if isinstance(after_message, bytes) and after_message.startswith(b"250"):
                channel.server.accepted.append(message)
            if not act(after_message):
                return


def smtp_server(
    replies: dict[bytes, Reply] | None = None,
    *,
    greeting: Reply = GREETING,
    after_message: Reply = QUEUED,
):
    """A raw server that speaks ``speak``'s dialogue on every connection."""
    replies = {**PLAIN_REPLIES, **(replies or {})}
    return raw_server(
        lambda channel: speak(channel, replies, greeting=greeting, after_message=after_message)
    )


# Helpers for the tests.


def profile(make_profile, name: str, port: int, priority: int, **fields):
    fields.setdefault("timeout", TIMEOUT)
    return make_profile(name=name, port=port, priority=priority, is_default=False, **fields)


def probe_settings(port: int, **overrides) -> ProbeSettings:
    values = {
        "host": "127.0.0.1",
        "port": port,
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "timeout": TIMEOUT,
    }
    values.update(overrides)
    return ProbeSettings(**values)


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Yields a list that holds the elapsed seconds once the block ends (even by an error)."""
    elapsed: list[float] = []
    started = time.monotonic()
    try:
        yield elapsed
    finally:
        elapsed.append(time.monotonic() - started)


def send(subject: str = "Fault test", body: str = "Body", **kwargs) -> int:
    return mail.send_mail(subject, body, None, [RECIPIENT], **kwargs)


def notes(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def only_log_row() -> DeliveryLog:
    return DeliveryLog.objects.get()


# 1. The connection drops in the middle of the message.


def drop_during_message(channel: Channel) -> None:
    """Plain SMTP up to 354, then part of the message is read and the connection drops."""
    channel.send(GREETING)
    while (line := channel.command()) is not None:
        word = line.split(b" ")[0].upper()
        if word not in PLAIN_REPLIES:
            return
        channel.send(PLAIN_REPLIES[word])
        if word == b"DATA":
            channel.part_of_message()
            return  # closed before the final "." (with data unread: a reset)


# About 600 KB: far more than the server reads before it drops the connection.
BIG_BODY = "A line of a long message, to be cut off in the middle.\n" * 11000


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raises", "fail_silently"])
def test_drop_during_the_message_is_reported_logged_failed_and_never_sent_elsewhere(
    make_profile, fail_silently
):
    """A drop after DATA may have left the message with the server: no failover, an error
    (or 0 with fail_silently), a "failed" row at step "data"; the second profile gets nothing."""
    with raw_server(drop_during_message) as dropping, running_smtp_server() as other:
        profile(make_profile, "Dropping", dropping.port, 1)
        profile(make_profile, "Other", other.port, 2)
        with stopwatch() as elapsed:
            if fail_silently:
                assert send(body=BIG_BODY, fail_silently=True) == 0
            else:
                with pytest.raises(smtplib.SMTPServerDisconnected) as excinfo:
                    send(body=BIG_BODY)
                assert "“Dropping”" in notes(excinfo.value)
                assert "data" in notes(excinfo.value)
        assert elapsed[0] < TIMEOUT + 1
        # The server saw the start of the message, never its end; nobody else saw it at all.
        assert dropping.connections == 1 and dropping.saw(b"DATA")
        assert len(dropping.partial) == 1 and dropping.partial[0]
        assert b"\r\n.\r\n" not in dropping.partial[0]
        assert dropping.messages == []
        assert other.messages == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Dropping", "data")]
    assert "may or may not have accepted" in entry.reply


def test_probe_reports_a_drop_during_the_message_as_interrupted_data():
    """The probe names the DATA step and says the server may or may not have the message."""
    with raw_server(drop_during_message) as dropping:
        with stopwatch() as elapsed:
            report = run_probe(probe_settings(dropping.port), RECIPIENT)
        assert dropping.messages == []
    assert elapsed[0] < TIMEOUT + 1
    assert not report.ok and not report.sent
    assert (report.failed_step.name, report.diagnosis.code) == ("data", "data_interrupted")


# 2. A temporary refusal (421, 451) and then the server recovers.

FLAKY_FAULTS = {
    # fault: (first connection's greeting, its replies, its reply to the message,
    #         the step the log names, the reply code)
    "421 greeting": (b"421 4.3.2 Too busy, try again later\r\n", {}, QUEUED, "ehlo", 421),
    "451 at RCPT": (
        GREETING,
        {b"RCPT": b"451 4.7.1 Greylisted, try again later\r\n"},
        QUEUED,
        "rcpt",
        451,
    ),
    "451 after the message": (
        GREETING,
        {},
        b"451 4.3.0 Temporary failure, try again later\r\n",
        "data",
        451,
    ),
}


@contextlib.contextmanager
def flaky_server(fault: str) -> Iterator[RawServer]:
    """Refuses the first connection with the temporary ``fault``; well-behaved from then on."""
    greeting, replies, after_message, _step, _code = FLAKY_FAULTS[fault]

    def script(channel: Channel) -> None:
        if channel.number == 0:
            speak(
                channel,
                {**PLAIN_REPLIES, **replies},
                greeting=greeting,
                after_message=after_message,
            )
        else:
            speak(channel, PLAIN_REPLIES)

    with raw_server(script) as server:
        yield server


@pytest.mark.parametrize("fault", list(FLAKY_FAULTS))
def test_temporary_refusal_fails_over_then_the_recovered_server_takes_the_next_message(
    make_profile, fault
):
    """First send: the flaky server refuses for now, the second profile takes the message
    once ("failed_over"). Next send: the recovered server takes it ("sent")."""
    *_first_connection, step, code = FLAKY_FAULTS[fault]
    with flaky_server(fault) as flaky, running_smtp_server() as good:
        profile(make_profile, "Flaky", flaky.port, 1)
        profile(make_profile, "Good", good.port, 2)

        with stopwatch() as elapsed:
            assert send("First") == 1
        assert elapsed[0] < TIMEOUT + 1
        assert flaky.accepted == []
        assert [m.message["Subject"] for m in good.messages] == ["First"]

        assert send("Second") == 1
        assert len(flaky.accepted) == 1 and b"Subject: Second" in flaky.accepted[0]
        assert [m.message["Subject"] for m in good.messages] == ["First"]
    first, second = DeliveryLog.objects.order_by("id")
    assert (first.outcome, first.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [(t["profile"], t["step"]) for t in first.tried] == [("Flaky", step)]
    assert str(code) in first.tried[0]["error"] and "temporary" in first.tried[0]["error"]
    assert (second.outcome, second.profile_name, second.tried) == (
        DeliveryOutcome.SENT,
        "Flaky",
        [],
    )


@pytest.mark.parametrize("fault", list(FLAKY_FAULTS))
def test_temporary_refusal_with_one_profile_raises_then_the_next_send_succeeds(make_profile, fault):
    """With nowhere to fail over to, the temporary refusal is raised with its code and
    logged "failed"; once the server recovers the next send goes through exactly once."""
    *_first_connection, step, code = FLAKY_FAULTS[fault]
    with flaky_server(fault) as flaky:
        profile(make_profile, "Flaky", flaky.port, 1)
        with stopwatch() as elapsed, pytest.raises(smtplib.SMTPException) as excinfo:
            send("First")
        assert elapsed[0] < TIMEOUT + 1
        error = excinfo.value
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            assert [c for c, _ in error.recipients.values()] == [code]
        else:
            assert error.smtp_code == code
        assert "“Flaky”" in notes(error)
        assert flaky.accepted == []

        assert send("Second") == 1
        assert len(flaky.accepted) == 1 and b"Subject: Second" in flaky.accepted[0]
    first, second = DeliveryLog.objects.order_by("id")
    assert first.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in first.tried] == [("Flaky", step)]
    assert str(code) in first.reply
    assert (second.outcome, second.profile_name) == (DeliveryOutcome.SENT, "Flaky")


# 3. The greeting comes later than the timeout.


def late_greeting(channel: Channel) -> None:
    """Greets only after the timeout has long passed, then would speak normally."""
    channel.wait(TIMEOUT + 3)
    speak(channel, PLAIN_REPLIES)


def test_probe_gives_no_greeting_verdict_within_timeout_plus_one_for_a_late_greeting():
    """A greeting later than the timeout: "no_greeting" at step EHLO within timeout + 1."""
    with raw_server(late_greeting) as late, stopwatch() as elapsed:
        report = run_probe(probe_settings(late.port), RECIPIENT)
    assert elapsed[0] < TIMEOUT + 1
    assert (report.failed_step.name, report.diagnosis.code) == ("ehlo", "no_greeting")
    assert report.failed_step.duration >= TIMEOUT * 0.9  # it did wait for the greeting
    assert late.commands == []


def test_backend_raises_and_logs_failed_within_timeout_plus_one_for_a_late_greeting(
    make_profile,
):
    """A greeting later than the timeout: SMTPServerDisconnected naming the profile within
    timeout + 1, a "failed" row at step "ehlo", no command sent."""
    with raw_server(late_greeting) as late:
        profile(make_profile, "Late", late.port, 1)
        with stopwatch() as elapsed, pytest.raises(smtplib.SMTPServerDisconnected) as excinfo:
            send()
        assert elapsed[0] < TIMEOUT + 1
        assert "“Late”" in notes(excinfo.value)
        assert late.commands == [] and late.messages == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Late", "ehlo")]


def tarpit_greeting(channel: Channel) -> None:
    """Sends its greeting one byte every 0.2 s (a tarpit), then would speak normally.

    No single read waits as long as the timeout, but the greeting takes 3.4 s in all.
    """
    for byte in GREETING_TARPIT:
        channel.send(bytes([byte]))
        channel.wait(0.2)
    speak(channel, PLAIN_REPLIES, greeting=b"")


GREETING_TARPIT = b"220 tarpit.test\r\n"


def test_probe_gives_up_within_timeout_plus_one_on_a_greeting_sent_byte_by_byte():
    """A greeting trickled slower than the timeout allows in all is no greeting: the probe
    stops at EHLO within timeout + 1 and sends nothing."""
    with raw_server(tarpit_greeting) as tarpit, stopwatch() as elapsed:
        report = run_probe(probe_settings(tarpit.port), RECIPIENT)
    assert elapsed[0] < TIMEOUT + 1
    assert not report.ok and not report.sent
    assert report.failed_step.name == "ehlo"
    assert tarpit.accepted == []


def test_backend_gives_up_within_timeout_plus_one_on_a_greeting_sent_byte_by_byte(
    make_profile,
):
    """The backend gives up on a trickled greeting within timeout + 1: an error naming the
    profile, a "failed" row at step "ehlo", nothing sent."""
    with raw_server(tarpit_greeting) as tarpit:
        profile(make_profile, "Tarpit", tarpit.port, 1)
        with stopwatch() as elapsed:
            try:
                sent, error = send(), None
            except OSError as exc:
                sent, error = 0, exc
        assert elapsed[0] < TIMEOUT + 1
        assert sent == 0 and error is not None and "“Tarpit”" in notes(error)
        assert tarpit.accepted == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Tarpit", "ehlo")]


# 4. The TLS handshake fails.

TLS_FAULTS = {
    # fault: (security, script, the probe's diagnosis)
    "implicit TLS, closed at once": (Security.SSL, lambda channel: None, "tls_failed"),
    "implicit TLS, garbage instead of a handshake": (
        Security.SSL,
        lambda channel: (channel.send(b"\x00garbage, not TLS\xff" * 8), channel.until_closed()),
        "ssl_on_plain_port",
    ),
    "implicit TLS, no handshake at all": (
        Security.SSL,
        lambda channel: channel.hang(),
        "tls_failed",
    ),
    "STARTTLS accepted, then closed": (
        Security.STARTTLS,
        lambda channel: speak(
            channel,
            {
                **PLAIN_REPLIES,
                b"EHLO": EHLO_STARTTLS,
                b"STARTTLS": (b"220 2.0.0 Ready to start TLS\r\n", CLOSE),
            },
        ),
        "tls_failed",
    ),
    "STARTTLS accepted, then no handshake": (
        Security.STARTTLS,
        lambda channel: speak(
            channel,
            {
                **PLAIN_REPLIES,
                b"EHLO": EHLO_STARTTLS,
                b"STARTTLS": (b"220 2.0.0 Ready to start TLS\r\n", HANG),
            },
        ),
        "tls_failed",
    ),
}


@pytest.mark.parametrize("fault", list(TLS_FAULTS))
def test_failed_tls_handshake_raises_and_logs_failed_at_step_tls_with_nothing_sent(
    make_profile, ca_pem, fault
):
    """A handshake that breaks, is garbage or never comes: an error naming the profile and
    the TLS step within timeout + 1, a "failed" row at step "tls", no MAIL FROM sent."""
    security, script, _code = TLS_FAULTS[fault]
    with raw_server(script) as broken:
        profile(
            make_profile, "Broken TLS", broken.port, 1, security=security, ca_certificate=ca_pem
        )
        with stopwatch() as elapsed, pytest.raises(OSError) as excinfo:
            send()
        assert elapsed[0] < TIMEOUT + 1
        assert "“Broken TLS”" in notes(excinfo.value) and "tls" in notes(excinfo.value)
        assert not broken.saw(b"MAIL") and broken.messages == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Broken TLS", "tls")]


@pytest.mark.parametrize("fault", list(TLS_FAULTS))
def test_probe_stops_at_the_tls_step_within_timeout_plus_one_when_the_handshake_fails(
    ca_pem, fault
):
    """The probe stops at TLS within timeout + 1 with the diagnosis for that failure."""
    security, script, code = TLS_FAULTS[fault]
    with raw_server(script) as broken:
        with stopwatch() as elapsed:
            report = run_probe(
                probe_settings(broken.port, security=security, ca_certificate=ca_pem), RECIPIENT
            )
        assert not broken.saw(b"MAIL")
    assert elapsed[0] < TIMEOUT + 1
    assert not report.ok and not report.sent
    assert (report.failed_step.name, report.diagnosis.code) == ("tls", code)


# 5. The server's certificate has expired.


@pytest.fixture(scope="module")
def expired_tls_context(test_ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 6, 30, tzinfo=datetime.UTC),
    ).configure_cert(context)
    return context


def expired_server(security: str, context: ssl.SSLContext):
    if security == Security.SSL:
        return running_smtp_server(implicit_tls_context=context)
    return running_smtp_server(starttls_context=context)


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_expired_certificate_is_diagnosed_by_the_probe_and_nothing_is_sent(
    expired_tls_context, ca_pem, security
):
    """An expired certificate (signed by a trusted CA): "certificate_expired" with its date."""
    with expired_server(security, expired_tls_context) as server:
        with stopwatch() as elapsed:
            report = run_probe(
                probe_settings(server.port, security=security, ca_certificate=ca_pem), RECIPIENT
            )
        assert server.messages == []
    assert elapsed[0] < TIMEOUT + 1
    assert (report.failed_step.name, report.diagnosis.code) == ("tls", "certificate_expired")
    assert "2021-06-30" in report.diagnosis.problem


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_expired_certificate_makes_the_backend_raise_log_failed_and_send_nothing(
    make_profile, expired_tls_context, ca_pem, security
):
    """An expired certificate: a verification error (code 10, expired) within timeout + 1,
    a "failed" row at step "tls" that says so, and nothing sent."""
    with expired_server(security, expired_tls_context) as server:
        profile(make_profile, "Expired", server.port, 1, security=security, ca_certificate=ca_pem)
        with (
            stopwatch() as elapsed,
            pytest.raises((ssl.SSLCertVerificationError, DeliveryFailed)) as excinfo,
        ):
            send()
        assert elapsed[0] < TIMEOUT + 1
        assert server.messages == []
    if isinstance(excinfo.value, ssl.SSLCertVerificationError):
        assert excinfo.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Expired", "tls")]
    assert "expired" in entry.tried[0]["error"]


# 6. The server hangs after AUTH (and, for the diagnosis, at MAIL FROM and RCPT TO).

HANG_AFTER_AUTH = {b"EHLO": EHLO_AUTH, b"AUTH": HANG}
CREDENTIALS = {"username": USER, "password": PASSWORD, "allow_plaintext_auth": True}


def test_backend_gives_up_within_timeout_plus_one_when_the_server_hangs_after_auth(make_profile):
    """AUTH sent, no reply ever: SMTPServerDisconnected naming the profile within timeout + 1,
    a "failed" row at step "auth", and no MAIL FROM (nothing sent)."""
    with smtp_server(HANG_AFTER_AUTH) as hanging:
        profile(make_profile, "Hanging", hanging.port, 1, username=USER, password=PASSWORD)
        with stopwatch() as elapsed, pytest.raises(smtplib.SMTPServerDisconnected) as excinfo:
            send()
        assert elapsed[0] < TIMEOUT + 1
        assert "“Hanging”" in notes(excinfo.value)
        assert hanging.saw(b"AUTH") and not hanging.saw(b"MAIL") and hanging.messages == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Hanging", "auth")]


def test_probe_stops_at_auth_within_timeout_plus_one_when_the_server_hangs_after_auth():
    """AUTH sent, no reply ever: the probe stops at step AUTH after waiting the timeout."""
    with smtp_server(HANG_AFTER_AUTH) as hanging:
        with stopwatch() as elapsed:
            report = run_probe(probe_settings(hanging.port, **CREDENTIALS), RECIPIENT)
        assert not hanging.saw(b"MAIL")
    assert elapsed[0] < TIMEOUT + 1
    assert not report.ok and not report.sent
    assert report.failed_step.name == "auth"
    assert report.failed_step.duration >= TIMEOUT * 0.9  # it did wait for the reply


NO_ANSWER_AT = {
    # where the server stops answering: (its replies, the step, whether the client logs in)
    "AUTH": (HANG_AFTER_AUTH, "auth", True),
    "MAIL FROM": ({b"MAIL": HANG}, "mail", False),
    "RCPT TO": ({b"RCPT": HANG}, "rcpt", False),
}

#: What today's diagnosis wrongly blames when a server stops answering.
WRONG_BLAME = ("refused", "in common", "OAuth2", "None")


@pytest.mark.parametrize("where", list(NO_ANSWER_AT))
def test_probe_diagnoses_a_server_that_stops_answering_as_no_answer_not_as_a_refusal(where):
    """No answer at AUTH, MAIL FROM or RCPT TO is a timeout, not a refusal or a mismatch."""
    replies, step, logs_in = NO_ANSWER_AT[where]
    with smtp_server(replies) as hanging:
        report = run_probe(
            probe_settings(hanging.port, **(CREDENTIALS if logs_in else {})), RECIPIENT
        )
    assert report.failed_step.name == step
    assert "timed out" in report.failed_step.detail
    assert report.diagnosis.code not in (
        "auth_mechanism_unsupported",
        "sender_rejected",
        "recipient_rejected",
    )
    problem = report.diagnosis.problem
    assert not [blame for blame in WRONG_BLAME if blame in problem], problem


@pytest.mark.parametrize("where", list(NO_ANSWER_AT))
def test_delivery_log_names_the_step_where_the_server_stopped_answering_and_no_refusal(
    make_profile, where
):
    """The "failed" row names the step the server stopped answering at, and no refusal."""
    replies, step, logs_in = NO_ANSWER_AT[where]
    credentials = {"username": USER, "password": PASSWORD} if logs_in else {}
    with smtp_server(replies) as hanging:
        profile(make_profile, "Hanging", hanging.port, 1, **credentials)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            send()
        assert hanging.messages == []
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Hanging", step)]
    error = entry.tried[0]["error"]
    assert not [blame for blame in WRONG_BLAME if blame in error], error


# Failover past a hanging server, and none once the message is out.

HANGS_BEFORE_THE_MESSAGE = {"no greeting": ({}, HANG, False)} | {
    where: (replies, GREETING, logs_in) for where, (replies, _step, logs_in) in NO_ANSWER_AT.items()
}


@pytest.mark.parametrize("where", list(HANGS_BEFORE_THE_MESSAGE))
def test_hanging_first_profile_fails_over_and_the_second_delivers_exactly_once(make_profile, where):
    """A server that stops answering before the message went out cannot have it: after the
    timeout the next profile delivers it once, logged "failed_over" with the hanging one."""
    replies, greeting, logs_in = HANGS_BEFORE_THE_MESSAGE[where]
    credentials = {"username": USER, "password": PASSWORD} if logs_in else {}
    with smtp_server(replies, greeting=greeting) as hanging, running_smtp_server() as good:
        profile(make_profile, "Hanging", hanging.port, 1, **credentials)
        profile(make_profile, "Good", good.port, 2)
        with stopwatch() as elapsed:
            assert send() == 1
        assert elapsed[0] < TIMEOUT + 1 + 0.5
        assert len(good.messages) == 1
        assert hanging.connections == 1 and hanging.messages == []
    entry = only_log_row()
    assert (entry.outcome, entry.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [t["profile"] for t in entry.tried] == ["Hanging"]


def test_server_hanging_after_the_whole_message_is_not_failed_over(make_profile):
    """No reply after the final "." may mean the server has the message: an error and a
    "failed" row, and the second profile is not asked (no second copy)."""
    with smtp_server(after_message=HANG) as hanging, running_smtp_server() as good:
        profile(make_profile, "Hanging", hanging.port, 1)
        profile(make_profile, "Good", good.port, 2)
        with stopwatch() as elapsed, pytest.raises(smtplib.SMTPServerDisconnected):
            send()
        assert elapsed[0] < TIMEOUT + 1
        assert len(hanging.messages) == 1  # the server has it (it just never said so)...
        assert good.messages == []  # ...so it is not sent again elsewhere
    entry = only_log_row()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Hanging", "data")]
