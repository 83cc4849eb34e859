"""Servers whose replies attack the client: endless, malformed, not SMTP, or repeating secrets.

Each runs as a scripted raw TCP server on 127.0.0.1 against both users of the
SMTP client: the test (``run_probe``) and the backend (``send_mail``). The
promises: the client stops reading in time and fails the step with an SMTP
protocol error the backend treats like any other failure (fail_silently,
failover, a delivery log row), and nothing the server should not have made
us keep (a huge reply, a foreign banner, a credential) is kept.
"""

from __future__ import annotations

import base64
import json
import smtplib
import socket
import threading
import time

import pytest
from django.core import mail

from smtpconfig.models import DeliveryLog, DeliveryOutcome, Security
from smtpconfig.probe import ProbeSettings, run_probe
from smtpconfig.tester import record_outcome, run_test

from .helpers import PASSWORD, USER, change_url, form_data
from .smtpd import PLAIN_REPLIES, running_smtp_server, scripted_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_backend")]

GREETING = b"220 hostile.test ESMTP\r\n"
RECIPIENT = "to@example.org"
#: The most a report's JSON may take (smtpconfig.probe.MAX_REPORT_BYTES).
REPORT_LIMIT = 64 * 1024


def probe(port: int, **overrides):
    values = {
        "host": "127.0.0.1",
        "port": port,
        "security": Security.NONE,
        "from_email": "noreply@example.com",
        "timeout": 2,
    }
    return run_probe(ProbeSettings(**{**values, **overrides}), RECIPIENT)


def report_json(report) -> str:
    # Unescaped, so that a non-ASCII secret would be found as it is.
    return json.dumps(report.as_dict(), ensure_ascii=False, default=str)


def send(**kwargs) -> int:
    return mail.send_mail("Hostile", "Body", None, [RECIPIENT], **kwargs)


def profile(make_profile, name: str, port: int, priority: int, **fields):
    fields.setdefault("timeout", 2)
    return make_profile(name=name, port=port, priority=priority, is_default=False, **fields)


def log_text(entry: DeliveryLog) -> str:
    return json.dumps([entry.reply, entry.tried], ensure_ascii=False)


# A. No reply is read past its limits.


class Flood:
    """Answers EHLO with ``250-`` lines until ``limit`` bytes are out or the client hangs up."""

    def __init__(self, line: bytes, limit: int, *, newline: bool = True):
        self.line = line + (b"\r\n" if newline else b"")
        self.limit = limit
        self.sent = 0

    def __call__(self, connection: socket.socket, line: bytes, stop: threading.Event) -> None:
        while self.sent < self.limit and not stop.is_set():
            connection.sendall(self.line * 64)
            self.sent += len(self.line) * 64


FLOODS = {
    # name: (a line repeated, its newline) - each well past 100 lines or 64 KiB
    "endless short lines": (b"250-" + b"X" * 60, True),
    "a few long lines": (b"250-" + b"L" * 8000, True),
    "one line without end": (b"250-" + b"N" * 1000, False),
}


@pytest.mark.parametrize("flood", list(FLOODS))
def test_probe_stops_reading_an_endless_ehlo_reply_and_keeps_a_small_report(flood):
    """The reply is cut at the client's limit (the server cannot send its 32 MB), the EHLO
    step fails as "not a well-behaved SMTP server", and the report's JSON stays under 64 KiB
    and says it was cut."""
    line, newline = FLOODS[flood]
    endless = Flood(line, 32 * 1024 * 1024, newline=newline)
    started = time.monotonic()
    with scripted_server(GREETING, {b"EHLO": endless}) as server:
        report = probe(server.port)
    assert time.monotonic() - started < 5
    assert endless.sent < endless.limit  # the client hung up long before the end
    assert (report.failed_step.name, report.diagnosis.code) == ("ehlo", "protocol_error")
    assert isinstance(report.exception, smtplib.SMTPResponseException)
    assert "cut" in report.failed_step.detail
    assert len(report_json(report)) < REPORT_LIMIT
    assert report.as_dict()["cut"] is True
    assert server.received == []


def test_an_ehlo_reply_within_the_limits_still_gives_a_report_under_64_kib(make_profile):
    """99 lines of 600 bytes are a legal reply (and the test passes), but the report that
    repeats them in the capabilities, the step and the transcript is cut to 64 KiB, also
    as stored on the profile."""
    ehlo = b"".join(b"250-X%02d-" % n + b"C" * 600 + b"\r\n" for n in range(98)) + b"250 OK\r\n"
    with scripted_server(GREETING, {**PLAIN_REPLIES, b"EHLO": ehlo}) as server:
        saved = make_profile(port=server.port)
        report = run_test(ProbeSettings.from_profile(saved), RECIPIENT, send=False)
        assert record_outcome(saved, report)
    assert report.ok, report.summary()
    assert report.cut
    assert len(json.dumps(report.as_dict())) <= REPORT_LIMIT
    saved.refresh_from_db()
    assert saved.last_test_report["cut"] is True
    assert len(json.dumps(saved.last_test_report)) <= REPORT_LIMIT
    assert all(len(entry) <= 301 for entry in report.transcript)


def test_the_admin_page_shows_the_report_no_larger_than_it_is_stored(admin_client, make_profile):
    """A reply within the limits, repeated in the capabilities, the EHLO step and the
    transcript, made the page's answer several times the stored report's size."""
    ehlo = b"".join(b"250-X%02d-" % n + b"C" * 600 + b"\r\n" for n in range(98)) + b"250 OK\r\n"
    with scripted_server(GREETING, {**PLAIN_REPLIES, b"EHLO": ehlo}) as server:
        profile = make_profile(port=server.port)
        data = {
            **form_data(port=str(server.port)),
            "_check_connection": "1",
            "_test_to": RECIPIENT,
        }
        response = admin_client.post(
            change_url(profile), data, HTTP_X_REQUESTED_WITH="XMLHttpRequest"
        )
    assert response.json()["ok"] is True
    assert len(response.content) < REPORT_LIMIT  # 92 KB before the fix
    assert "cut" in response.json()["html"]


def test_report_as_dict_stays_under_64_kib_whatever_it_holds():
    """Even a report of long non-ASCII strings everywhere (6 bytes a character as JSON)."""
    from smtpconfig.diagnosis import Diagnosis
    from smtpconfig.probe import ProbeReport, StepResult

    long = "Ж" * 20000
    report = ProbeReport(
        host="h",
        port=25,
        security="none",
        recipient=long,
        send=True,
        steps=[
            StepResult(name=name, detail=long, reply=long)
            for name in ("resolve", "connect", "ehlo")
        ],
        diagnosis=Diagnosis(code="x", problem=long, fix=long),
        capabilities=[long] * 500,
        transcript=[long] * 500,
        certificate={"names": [long] * 500, "subject": long},
    )
    data = report.as_dict()
    assert len(json.dumps(data)) <= REPORT_LIMIT
    assert data["cut"] is True
    assert [step["name"] for step in data["steps"]] == ["resolve", "connect", "ehlo"]
    assert ProbeReport.from_dict(data).cut


def test_transcript_keeps_200_entries_and_says_it_was_cut():
    from smtpconfig.transport.clients import PreconnectedSMTP

    client = PreconnectedSMTP(None, server_hostname="x")
    for number in range(500):
        client._record(f"S: 250-line {number}")
    assert len(client.transcript) == 200
    assert client.transcript[-1] == "… (cut)" and client.transcript_cut


def test_backend_fails_over_past_an_endless_ehlo_reply(make_profile):
    """The flooding server is an ordinary failure: the next profile sends the message, the
    log names the flood's EHLO step and its cut reply."""
    endless = Flood(b"250-" + b"X" * 60, 32 * 1024 * 1024)
    with scripted_server(GREETING, {b"EHLO": endless}) as flood, running_smtp_server() as good:
        profile(make_profile, "Flood", flood.port, 1)
        profile(make_profile, "Good", good.port, 2)
        assert send() == 1
        assert len(good.messages) == 1
    assert endless.sent < endless.limit
    entry = DeliveryLog.objects.get()
    assert (entry.outcome, entry.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Flood", "ehlo")]
    assert "cut" in entry.tried[0]["error"]


def test_backend_with_fail_silently_logs_an_endless_reply_as_failed(make_profile):
    endless = Flood(b"250-" + b"X" * 60, 32 * 1024 * 1024)
    with scripted_server(GREETING, {b"EHLO": endless}) as flood:
        profile(make_profile, "Flood", flood.port, 1)
        assert send(fail_silently=True) == 0
    assert endless.sent < endless.limit
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Flood", "ehlo")]


# C. A malformed reply is a protocol error, handled like any other failure.

EHLO_LOGIN = b"250-hostile.test\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"
BAD_CHALLENGE = {**PLAIN_REPLIES, b"EHLO": EHLO_LOGIN, b"AUTH": b"334 UGFzc3dvcmQ\r\n"}
CREDENTIALS = {"username": USER, "password": PASSWORD}


def test_probe_reports_an_auth_challenge_that_is_not_base64_as_a_protocol_error():
    with scripted_server(GREETING, BAD_CHALLENGE) as server:
        report = probe(server.port, allow_plaintext_auth=True, **CREDENTIALS)
    assert (report.failed_step.name, report.diagnosis.code) == ("auth", "protocol_error")
    assert "base64" in report.failed_step.detail
    assert PASSWORD not in report_json(report)


@pytest.mark.parametrize("fail_silently", [False, True], ids=["raises", "fail_silently"])
def test_backend_treats_a_bad_auth_challenge_as_a_failure_and_keeps_the_password_out(
    make_profile, fail_silently
):
    """No binascii.Error: an SMTP error the caller can catch (or 0 with fail_silently), a
    "failed" row at step auth, and the password in no frame, message or row."""
    with scripted_server(GREETING, BAD_CHALLENGE) as server:
        profile(make_profile, "Broken", server.port, 1, **CREDENTIALS)
        if fail_silently:
            assert send(fail_silently=True) == 0
        else:
            with pytest.raises(smtplib.SMTPResponseException) as excinfo:
                send()
            error = excinfo.value
            assert "base64" in str(error)
            assert PASSWORD not in str(error) + "".join(getattr(error, "__notes__", []))
            for frame in _frames(error):
                if frame.f_code.co_filename == __file__:
                    continue  # this test's own frames
                assert PASSWORD not in repr(frame.f_locals), frame.f_code.co_name
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Broken", "auth")]
    assert PASSWORD not in log_text(entry)


def test_backend_fails_over_past_a_bad_auth_challenge(make_profile):
    with scripted_server(GREETING, BAD_CHALLENGE) as broken, running_smtp_server() as good:
        profile(make_profile, "Broken", broken.port, 1, **CREDENTIALS)
        profile(make_profile, "Good", good.port, 2)
        assert send() == 1
        assert len(good.messages) == 1
    entry = DeliveryLog.objects.get()
    assert (entry.outcome, entry.profile_name) == (DeliveryOutcome.FAILED_OVER, "Good")


def test_a_reply_without_a_reply_code_is_a_protocol_error():
    with scripted_server(GREETING, {**PLAIN_REPLIES, b"MAIL": b"OK, sender fine\r\n"}) as server:
        report = probe(server.port)
    assert (report.failed_step.name, report.diagnosis.code) == ("mail", "protocol_error")
    assert "no valid reply code" in report.failed_step.detail


def _frames(exc):
    """Every frame of ``exc``'s traceback and of the exceptions chained to it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback = exc.__traceback__
        while traceback is not None:
            yield traceback.tb_frame
            traceback = traceback.tb_next
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


# D. What is not an SMTP server is named as such, and its banner is not kept.

SECRET = "nats-Tok3n-9f8e7d6c5b4a"
BANNERS = {
    "NATS": b'INFO {"server_id":"NDJWE4ZRMQ","server_name":"nats-1","version":"2.10.4",'
    b'"proto":1,"auth_required":false,"connect_urls":["10.0.0.7:4222"],"nonce":"'
    + SECRET.encode()
    + b'","max_payload":1048576}\r\n',
    "POP3": b"+OK Dovecot ready, cluster node 10.1.2.3, session " + SECRET.encode() + b"\r\n",
    "NNTP": b"200 news.example.test InterNetNews server INN 2.7 ready " + SECRET.encode() + b"\r\n",
    "binary": b"\x00\x1b[2J\x07\xff\xfe220 fake\x00" + b"A" * 60 + SECRET.encode() + b"\r\n",
}


@pytest.mark.parametrize("banner", list(BANNERS))
def test_probe_names_a_service_that_is_not_smtp_and_keeps_nothing_of_its_banner(banner):
    with scripted_server(BANNERS[banner]) as server:
        report = probe(server.port)
    assert (report.failed_step.name, report.diagnosis.code) == ("ehlo", "not_smtp_server")
    assert "not an SMTP server" in report.failed_step.detail
    text = report_json(report)
    assert SECRET not in text
    quoted = report.failed_step.detail.split("“", 1)[1].rsplit("”", 1)[0].removesuffix("…")
    assert len(quoted) <= 40 and quoted.isprintable() and quoted.isascii()
    assert report.failed_step.reply == ""
    assert server.commands == []  # not even EHLO was sent


def test_backend_keeps_a_foreign_banner_out_of_the_error_and_the_log(make_profile):
    with scripted_server(BANNERS["NATS"]) as server:
        profile(make_profile, "Nats", server.port, 1)
        with pytest.raises(smtplib.SMTPResponseException) as excinfo:
            send()
        assert server.commands == []
    error = excinfo.value
    assert "not an SMTP server" in str(error)
    assert SECRET not in str(error) + repr(error.args) + "".join(error.__notes__)
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert [(t["profile"], t["step"]) for t in entry.tried] == [("Nats", "ehlo")]
    assert SECRET not in log_text(entry)


# E. What the client sent to log in never comes back in a reply.

EHLO_PLAIN = b"250-hostile.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
PLAIN_ARGUMENT = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
PASSWORD_BASE64 = base64.b64encode(PASSWORD.encode()).decode()
SECRETS = (PASSWORD, PLAIN_ARGUMENT, PASSWORD_BASE64, PLAIN_ARGUMENT.rstrip("="))


def echo(transform):
    """Refuses the login with a 535 that repeats ``transform(the line's last word)``."""

    def act(connection: socket.socket, line: bytes, stop: threading.Event) -> bytes:
        reply = b"535 5.7.8 Authentication failed for " + transform(line.split()[-1]) + b"\r\n"
        connection.sendall(reply)
        return reply

    return act


ECHOES = {
    # name: (mechanisms offered, the reply to AUTH, the reply to the next line)
    "the AUTH PLAIN argument": (b"PLAIN", echo(lambda word: word), None),
    "the argument without padding": (b"PLAIN", echo(lambda word: word.rstrip(b"=")), None),
    "the argument, URL-safe": (
        b"PLAIN",
        echo(lambda word: base64.urlsafe_b64encode(base64.b64decode(word))),
        None,
    ),
    "the password itself": (
        b"PLAIN",
        echo(lambda word: base64.b64decode(word).split(b"\0")[-1]),
        None,
    ),
    "the AUTH LOGIN password": (b"LOGIN", b"334 UGFzc3dvcmQ6\r\n", echo(lambda word: word)),
    "the password inside a longer token": (
        b"PLAIN",
        echo(lambda word: base64.b64encode(b"id=7;pw=" + base64.b64decode(word) + b";end")),
        None,
    ),
}


def echoing_server(echo_name: str):
    mechanisms, auth_reply, next_reply = ECHOES[echo_name]
    replies = {
        **PLAIN_REPLIES,
        b"EHLO": b"250-hostile.test\r\n250-AUTH " + mechanisms + b"\r\n250 8BITMIME\r\n",
        b"AUTH": auth_reply,
    }
    if next_reply is not None:
        replies[b"*"] = next_reply
    return scripted_server(GREETING, replies)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


@pytest.mark.parametrize("echo_name", list(ECHOES))
def test_probe_report_masks_a_credential_the_server_repeats(echo_name):
    with echoing_server(echo_name) as server:
        report = probe(server.port, allow_plaintext_auth=True, **CREDENTIALS)
    assert (report.failed_step.name, report.diagnosis.code) == ("auth", "auth_failed")
    assert "****" in report.failed_step.reply
    assert_no_secret(report_json(report))
    assert_no_secret(report.summary())


@pytest.mark.parametrize("echo_name", list(ECHOES))
def test_backend_error_log_and_row_mask_a_credential_the_server_repeats(
    make_profile, echo_name, caplog
):
    with echoing_server(echo_name) as server:
        profile(make_profile, "Echo", server.port, 1, **CREDENTIALS)
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            send()
    error = excinfo.value
    assert b"****" in error.smtp_error
    assert_no_secret(str(error) + "".join(error.__notes__))
    entry = DeliveryLog.objects.get()
    assert entry.outcome == DeliveryOutcome.FAILED
    assert_no_secret(log_text(entry))
    assert_no_secret(caplog.text)
