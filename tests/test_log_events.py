"""The structured log lines: one per send, failover, failure and test, with the same fields.

Real sends through the backend and the outbox's worker to aiosmtpd servers on
127.0.0.1, real admin tests; each line the ``smtpconfig`` logger writes is
captured through the JSON and the key=value formatters, parsed back and read
field by field. No line may hold the password, a message's body, its
recipients' addresses or a password-reset link, and nothing a server replies
may start a line or add a field of its own.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from smtpconfig.log_events import FIELDS
from smtpconfig.log_format import JSONFormatter, KeyValueFormatter, TextFormatter
from tests.helpers import PASSWORD, USER, profile_form, run_ready_tasks
from tests.smtpd import RecordingHandler, free_port, running_smtp_server

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
#: Every key a line may have: the formatter's own, then the events' fields.
KEYS = {"time", "level", "logger", "message", "exception", *FIELDS}
BODY = "The body: only the recipient may read this line."
RECIPIENTS = ["alice@example.org", "Bob <bob@Example.ORG>", "carol@example.net"]
#: A reply that tries to end the line and start one of its own, in both formats.
HOSTILE_REPLY = (
    '550-5.1.1 first line" event=forged level=CRITICAL\r\n'
    '550 5.1.1 {"event": "forged"}\x0b\x1c second\u2028third'
)

_KV_PAIR = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')
_KV_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)")


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if code[0] in "xu" and len(code) > 1:
        return chr(int(code[1:], 16))
    return {"n": "\n", "r": "\r", "t": "\t"}.get(code, code)


def parse_key_value(line: str) -> dict[str, str]:
    """A logfmt line back into its fields; fails on anything that is not one pair after
    another (a pair a value smuggled in would be a second key, or break the parse)."""
    fields, position = {}, 0
    while position < len(line):
        match = _KV_PAIR.match(line, position)
        assert match, f"not key=value at {line[position:]!r}"
        key, raw = match.groups()
        assert key not in fields, f"{key} twice in {line!r}"
        fields[key] = _KV_ESCAPE.sub(_unescape, raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
    return fields


class Captured:
    """What the ``smtpconfig`` logger wrote through one formatter, as text and parsed."""

    def __init__(self, kind: str):
        self.kind = kind
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        lines = self.text.splitlines()
        # One line per record: nothing a record held started a line of its own.
        assert len(lines) == len(self.records), self.text
        parse = json.loads if self.kind == "json" else parse_key_value
        parsed = [parse(line) for line in lines]
        for fields in parsed:
            assert set(fields) <= KEYS, fields
        return parsed

    def events(self, name: str) -> list[dict]:
        return [fields for fields in self.lines() if fields.get("event") == name]


class _Keep(logging.Handler):
    def __init__(self, records):
        super().__init__()
        self.records = records

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(params=["json", "keyvalue"])
def log(request):
    """The ``smtpconfig`` logger at INFO, written through the JSON or the key=value
    formatter (each test runs with both)."""
    captured = Captured(request.param)
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JSONFormatter() if request.param == "json" else KeyValueFormatter())
    keep = _Keep(captured.records)
    logger = logging.getLogger("smtpconfig")
    level = logger.level
    logger.addHandler(handler)
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    yield captured
    logger.removeHandler(handler)
    logger.removeHandler(keep)
    logger.setLevel(level)


def number(value) -> float:
    return float(value)


def assert_nothing_personal(text: str) -> None:
    assert PASSWORD not in text
    assert BODY not in text
    for address in ("alice@example.org", "bob@", "carol@example.net"):
        assert address not in text.lower()


# Sends through the backend.


def test_a_sent_message_is_one_send_line_with_counts_not_addresses(
    log, use_backend, make_profile, auth_server
):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    message = mail.EmailMessage("Hello", BODY, None, RECIPIENTS)
    assert message.send() == 1
    (line,) = log.events("send")
    assert line["level"] == "INFO"
    assert line["logger"] == "smtpconfig"
    assert line["profile"] == "Main"
    assert str(line["profile_pk"]) == str(profile.pk)
    assert line["server"] == f"127.0.0.1:{auth_server.port}"
    assert line["outcome"] == "sent"
    assert line["step"] == ""
    assert str(line["attempts"]) == "0"
    assert str(line["recipients"]) == "3"
    assert line["recipient_domains"] == "example.net,example.org"
    assert line["via"] == "backend"
    assert number(line["duration_ms"]) > 0
    received = auth_server.messages[0].message["Message-ID"]
    assert line["message_id"] == received
    assert "Main" in line["message"]
    assert_nothing_personal(log.text)


def test_a_failover_is_a_failover_line_then_a_send_line(log, use_backend, make_profile):
    closed = free_port()
    with running_smtp_server() as server:
        first = make_profile(name="First", port=closed, priority=1)
        second = make_profile(name="Second", port=server.port, priority=2, is_default=False)
        assert mail.EmailMessage("Hello", BODY, None, RECIPIENTS[:1]).send() == 1
    (failover,) = log.events("failover")
    assert failover["level"] == "WARNING"
    assert failover["profile"] == "First"
    assert str(failover["profile_pk"]) == str(first.pk)
    assert failover["step"] == "connect"
    assert failover["outcome"] == "failed_over"
    assert failover["next_profile"] == "Second"
    assert str(failover["next_profile_pk"]) == str(second.pk)
    assert str(failover["recipients"]) == "1"
    # The human message is the one it always was.
    assert failover["message"].startswith("SMTP profile “First” (127.0.0.1:")
    (send,) = log.events("send")
    assert send["outcome"] == "failed_over"
    assert send["profile"] == "Second"
    assert str(send["attempts"]) == "1"
    assert_nothing_personal(log.text)


def test_a_hostile_refusal_fails_on_one_line_each_and_forges_no_field(
    log, use_backend, make_profile
):
    """The server refuses the recipient with a reply whose lines try to close the value
    and add fields, start a JSON object of their own, and break the line with the
    characters some readers split on."""
    handler = RecordingHandler(rcpt_reply=HOSTILE_REPLY)
    with running_smtp_server(handler=handler) as server:
        profile = make_profile(port=server.port)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the refusal, whatever its type
            mail.EmailMessage("Hello", BODY, None, RECIPIENTS[:1]).send()
    lines = log.lines()  # one line per record, each parsed whole, only known keys
    assert all(fields.get("event") != "forged" for fields in lines)
    assert all(fields["level"] != "CRITICAL" for fields in lines)
    (send,) = log.events("send")
    assert send["outcome"] == "failed"
    assert send["step"] == "rcpt"
    assert str(send["profile_pk"]) == str(profile.pk)
    (failed,) = log.events("delivery_failed")
    assert failed["level"] == "ERROR"
    assert failed["step"] == "rcpt"
    assert str(failed["attempts"]) == "1"
    # The reply is in the human message (the diagnosis's words, which already join its
    # lines), quote and all, but only as text inside one value.
    assert 'first line" event=forged' in failed["message"]
    assert "\u2028" not in log.text and "\x0b" not in log.text


def test_a_connection_that_fails_everywhere_is_a_failure_line(log, use_backend, make_profile):
    make_profile(port=free_port())
    assert mail.send_mail("Hello", BODY, None, RECIPIENTS[:1], fail_silently=True) == 0
    (send,) = log.events("send")
    assert send["outcome"] == "failed"
    assert send["step"] == "connect"
    (failed,) = log.events("delivery_failed")
    assert failed["profile"] == "Main"
    assert failed["step"] == "connect"


# The outbox's worker, with the site's own password reset.


def test_a_password_reset_sent_by_the_worker_logs_no_link(
    log, client, settings, make_profile, plain_server
):
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    profile = make_profile(port=plain_server.port)
    get_user_model().objects.create_user("alice", "alice@example.org", "Old-Pass-123")
    assert client.post(reverse("admin_password_reset"), {"email": "alice@example.org"}).status_code
    run_ready_tasks()
    (received,) = plain_server.messages
    body = received.message.get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/reset/\S+/", body).group(0)
    (send,) = log.events("send")
    assert send["via"] == "outbox"
    assert send["outcome"] == "sent"
    assert str(send["profile_pk"]) == str(profile.pk)
    assert send["message_id"] == received.message["Message-ID"]
    assert send["recipient_domains"] == "example.org"
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert path not in log.text
    assert "/reset/" not in log.text
    assert "alice@example.org" not in log.text
    assert body.strip().splitlines()[0] not in log.text


# Tests in the admin.


@pytest.mark.parametrize(
    ("button", "kind"), [("_send_test", "send_test"), ("_check_connection", "connection_check")]
)
def test_an_admin_test_is_a_test_line(log, admin_client, make_profile, auth_server, button, kind):
    profile = make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    url = reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk])
    response = admin_client.post(url, profile_form(profile, **{button: "1", "_test_to": "a@b.org"}))
    assert response.status_code == 200
    (line,) = log.events("test")
    assert line["kind"] == kind
    assert line["outcome"] == "ok"
    assert line["profile"] == "Main"
    assert str(line["profile_pk"]) == str(profile.pk)
    assert line["server"] == f"127.0.0.1:{auth_server.port}"
    assert number(line["duration_ms"]) > 0
    if kind == "send_test":
        assert str(line["recipients"]) == "1" and line["recipient_domains"] == "b.org"
    assert PASSWORD not in log.text
    assert "a@b.org" not in log.text


def test_a_failed_test_names_its_step(log, admin_client, make_profile, auth_server):
    profile = make_profile(port=auth_server.port, username=USER, password="wrong")
    url = reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk])
    admin_client.post(url, profile_form(profile, _check_connection="1", _test_to="a@b.org"))
    (line,) = log.events("test")
    assert line["outcome"] == "failed"
    assert line["step"] == "auth"
    assert line["level"] == "WARNING"
    assert "wrong" not in log.text


@pytest.mark.django_db
def test_detect_settings_is_a_detect_line_with_the_domain_not_the_address(log, admin_client):
    """The tests' DNS knows no name: the known provider's settings are found anyway."""
    response = admin_client.post(
        reverse("admin:smtpconfig_smtpprofile_add") + "detect/",
        {"from_email": "someone.private@gmail.com", "_detect": "1"},
    )
    assert response.status_code == 200
    (line,) = log.events("detect")
    assert line["domain"] == "gmail.com"
    assert line["outcome"] == "found"
    assert int(line["candidates"]) >= 2
    assert line["dns"] == "unreliable"
    assert number(line["duration_ms"]) >= 0
    assert "someone.private" not in log.text


# The formatters themselves.


def _record(message: str, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord("smtpconfig", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "with space",
        'quote " and = and \\ backslash',
        "line\r\nbreak level=CRITICAL",
        '" event=forged',
        "\\n not a newline",
        "unicode \u2028 \u2029 \x85 \x00 \x1b[31m red",
        "Ключ",
    ],
)
def test_key_value_gives_back_every_value_on_one_line(value):
    line = KeyValueFormatter().format(_record("m %s", value, profile=value, event="send"))
    assert "\n" not in line and "\r" not in line and len(line.splitlines()) == 1
    fields = parse_key_value(line)
    assert fields["message"] == f"m {value}"
    assert fields["profile"] == value
    assert fields["event"] == "send"


def test_json_escapes_every_line_break():
    value = "a\nb\rc\u2028d\u2029e\x85f"
    line = JSONFormatter().format(_record("%s", value, profile=value))
    assert len(line.splitlines()) == 1
    fields = json.loads(line)
    assert fields["message"] == fields["profile"] == value


def test_only_plain_extra_values_are_written():
    """Django's request logger passes the request object as ``extra``: never written."""
    line = JSONFormatter().format(_record("x", request=object(), status_code=404))
    fields = json.loads(line)
    assert "request" not in fields
    assert fields["status_code"] == 404


def test_text_keeps_the_message_on_one_line_and_a_traceback_after_it():
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("reply: %s", "one\r\ntwo")
        record.exc_info = sys.exc_info()
    text = TextFormatter().format(record)
    first, *rest = text.splitlines()
    assert first.endswith("reply: one\\r\\ntwo")
    assert rest[-1] == "ValueError: boom"


# The host project's settings: DJANGO_LOG_FORMAT, to stdout.


@pytest.mark.parametrize("log_format", ["json", "keyvalue", "text"])
def test_django_log_format_chooses_the_format_of_stdout(log_format):
    code = (
        "import django, logging; django.setup();"
        "from smtpconfig.log_events import log_event;"
        "log_event(logging.WARNING, 'failover', 'reply %s', 'a\\r\\nb',"
        " profile='Main', step='auth')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mailsettings.settings",
            "DJANGO_SECRET_KEY": "x" * 50,
            "SMTPCONFIG_ENCRYPTION_KEYS": "",
            "DJANGO_LOG_FORMAT": log_format,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    if log_format == "json":
        fields = json.loads(line)
    elif log_format == "keyvalue":
        fields = parse_key_value(line)
    else:
        assert line.endswith("WARNING smtpconfig: reply a\\r\\nb")
        return
    assert fields["event"] == "failover"
    assert fields["profile"] == "Main"
    assert fields["step"] == "auth"
    assert fields["message"] == "reply a\r\nb"


def test_an_unknown_log_format_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", "import mailsettings.settings"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_LOG_FORMAT 'xml' is not supported" in result.stderr
