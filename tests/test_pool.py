"""The connection pool (delivery/pool.py) through EmailBackend, against real servers: one
connection for many send_mail() calls, counted at the server; a stale one replaced before
MAIL FROM; its limits; profile changes; threads, fork and process exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection
from django.db import connection as db_connection
from django.db import connections

from smtpconfig.delivery import pool
from smtpconfig.delivery.pool import POOL
from smtpconfig.models import DeliveryLog
from tests.helpers import PASSWORD, USER, database_url
from tests.smtpd import PLAIN_REPLIES, RecordingHandler, running_smtp_server, scripted_server

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "smtpconfig.backends.EmailBackend"


@dataclass
class SessionRecordingHandler(RecordingHandler):
    """Records, per connection, the commands that reach the handler's hooks in order."""

    sessions: list[list[str]] = field(default_factory=list)
    _by_session: dict = field(default_factory=dict)

    def _event(self, session, name: str) -> None:
        with self.lock:
            events = self._by_session.get(id(session))
            if events is None:
                events = self._by_session[id(session)] = []
                self.sessions.append(events)
                session.smtpconfig_events = events  # keeps id(session) unique while it lives
            events.append(name)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        self._event(session, "EHLO")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        self._event(session, "MAIL")
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self._event(session, "RCPT")
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self._event(session, "DATA")
        return await super().handle_DATA(server, session, envelope)

    async def handle_RSET(self, server, session, envelope):  # noqa: N802
        self._event(session, "RSET")
        return "250 OK"

    async def handle_NOOP(self, server, session, envelope, arg):  # noqa: N802
        self._event(session, "NOOP")
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        self._event(session, "QUIT")
        return "221 Bye"


@pytest.fixture
def recording():
    handler = SessionRecordingHandler()
    with running_smtp_server(handler=handler) as server:
        yield server


def _subjects(server) -> list[str]:
    return sorted(received.message["Subject"] for received in server.messages)


def _quit_seen(server, timeout: float = 5.0) -> bool:
    """Whether every connection the server had ended with QUIT (the hook runs on its loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(events and events[-1] == "QUIT" for events in server.handler.sessions):
            return True
        time.sleep(0.02)
    return False


def test_send_mail_calls_in_a_row_share_one_connection(use_backend, recording, make_profile):
    make_profile(port=recording.port)
    for number in range(5):
        assert mail.send_mail(f"n{number}", "Body", None, ["a@x.test"]) == 1
    assert _subjects(recording) == [f"n{number}" for number in range(5)]
    (events,) = recording.handler.sessions
    assert events == ["EHLO"] + ["MAIL", "RCPT", "DATA"] + ["RSET", "MAIL", "RCPT", "DATA"] * 4
    assert POOL.idle_count() == 1


def test_the_login_is_reused_too(use_backend, starttls_server, make_profile, ca_pem):
    make_profile(
        port=starttls_server.port,
        security="starttls",
        username=USER,
        password=PASSWORD,
        ca_certificate=ca_pem,
    )
    for number in range(3):
        mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
    assert len(starttls_server.messages) == 3
    assert len(starttls_server.authenticator.attempts) == 1


@pytest.mark.parametrize(
    ("replies", "close_after_data"),
    [
        ({**PLAIN_REPLIES, b"RSET": b"421 4.4.2 Idle too long, closing\r\n"}, False),
        (PLAIN_REPLIES, True),  # the server hangs up without a word
    ],
    ids=["421-to-RSET", "silent-close"],
)
def test_a_connection_the_server_dropped_is_replaced_before_mail_from(
    use_backend, make_profile, replies, close_after_data
):
    with scripted_server(
        b"220 scripted.test\r\n", replies, close_after_data=close_after_data
    ) as server:
        make_profile(port=server.port)
        mail.send_mail("first", "Body", None, ["a@x.test"])
        mail.send_mail("second", "Body", None, ["a@x.test"])
    assert len(server.received) == 2
    assert [b"Subject: first" in m for m in server.received] == [True, False]
    assert len(server.connections) == 2
    verbs = [command.split(b" ")[0].upper() for command in server.commands]
    assert verbs.count(b"MAIL") == 2  # no message was tried on the stale connection
    if not close_after_data:  # the check the server answered with 421 came before
        assert verbs.index(b"RSET") < verbs.index(b"MAIL", verbs.index(b"MAIL") + 1)
    assert list(DeliveryLog.objects.values_list("outcome", flat=True)) == ["sent", "sent"]


def test_after_a_longer_idle_the_check_is_noop(use_backend, make_profile, monkeypatch):
    monkeypatch.setattr(pool, "LONG_IDLE", 0.0)
    replies = {**PLAIN_REPLIES, b"NOOP": b"421 4.4.2 Idle too long, closing\r\n"}
    with scripted_server(b"220 scripted.test\r\n", replies) as server:
        make_profile(port=server.port)
        mail.send_mail("first", "Body", None, ["a@x.test"])
        mail.send_mail("second", "Body", None, ["a@x.test"])
    verbs = [command.split(b" ")[0].upper() for command in server.commands]
    assert b"NOOP" in verbs and b"RSET" not in verbs
    assert len(server.received) == 2 and len(server.connections) == 2


def test_an_idle_connection_is_quit_after_pool_idle_timeout(
    use_backend, recording, make_profile, settings
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL_IDLE_TIMEOUT": 0}
    make_profile(port=recording.port)
    mail.send_mail("first", "Body", None, ["a@x.test"])
    mail.send_mail("second", "Body", None, ["a@x.test"])
    first, second = recording.handler.sessions
    assert first == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert second == ["EHLO", "MAIL", "RCPT", "DATA"]


def test_a_connection_is_quit_after_pool_max_messages_whichever_backend_sent_them(
    use_backend, recording, make_profile, settings
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL_MAX_MESSAGES": 2}
    make_profile(port=recording.port)
    mail.send_mail("n0", "Body", None, ["a@x.test"])  # each call its own backend
    with get_connection() as connection:  # and a batch over a connection held open
        connection.send_messages(
            [EmailMessage(f"n{number}", "Body", to=["a@x.test"]) for number in (1, 2, 3)]
        )
    mail.send_mail("n4", "Body", None, ["a@x.test"])
    sessions = recording.handler.sessions
    assert [events.count("DATA") for events in sessions] == [2, 2, 1]
    assert [events[-1] for events in sessions[:2]] == ["QUIT", "QUIT"]
    assert len(recording.messages) == 5


def test_a_profile_saved_between_two_sends_is_used_by_the_second(use_backend, make_profile):
    first_handler, second_handler = SessionRecordingHandler(), SessionRecordingHandler()
    with (
        running_smtp_server(handler=first_handler) as first,
        running_smtp_server(handler=second_handler) as second,
    ):
        profile = make_profile(port=first.port)
        mail.send_mail("first", "Body", None, ["a@x.test"])
        profile.port = second.port
        profile.save()
        mail.send_mail("second", "Body", None, ["a@x.test"])
        assert _quit_seen(first)  # the old connection was closed, not left to time out
    assert _subjects(first) == ["first"] and _subjects(second) == ["second"]


def test_a_change_that_keeps_the_server_still_drops_the_connection(
    use_backend, recording, make_profile
):
    profile = make_profile(port=recording.port)
    mail.send_mail("first", "Body", None, ["a@x.test"])
    profile.from_name = "Renamed Site"
    profile.save()
    mail.send_mail("second", "Body", None, ["a@x.test"])
    assert len(recording.handler.sessions) == 2
    assert recording.handler.sessions[0][-1] == "QUIT"
    assert recording.messages[1].message["From"] == "Renamed Site <noreply@example.com>"


def test_threads_sending_at_once_never_share_a_connection(use_backend, recording, make_profile):
    make_profile(port=recording.port)
    errors: list[BaseException] = []
    start = threading.Barrier(8, timeout=30)

    def send(thread: int) -> None:
        try:
            start.wait()
            for number in range(5):
                mail.send_mail(f"t{thread}-{number}", "Body", None, ["a@x.test"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    expected = sorted(f"t{thread}-{number}" for thread in range(8) for number in range(5))
    assert _subjects(recording) == expected  # each message once
    sessions = recording.handler.sessions
    assert 1 <= len(sessions) <= 8
    for events in sessions:
        transaction = [event for event in events if event in ("MAIL", "RCPT", "DATA")]
        assert transaction == ["MAIL", "RCPT", "DATA"] * (len(transaction) // 3), events
    assert sum(events.count("DATA") for events in sessions) == 40


def _wait_for_child(pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child did not finish")


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    use_backend, recording, make_profile, settings
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "DELIVERY_LOG": False}
    make_profile(port=recording.port)
    mail.send_mail("parent 1", "Body", None, ["a@x.test"])
    assert POOL.idle_count() == 1
    pid = os.fork()
    if pid == 0:  # the child: send one message, exit without any cleanup of the parent's
        code = 1
        try:
            # The parent's database connection is the parent's too: keep it (unused, never
            # closed, which would end the parent's session) and open one of our own.
            inherited = [(alias.connection, alias) for alias in connections.all()]
            for _socket, alias in inherited:
                alias.connection = None
            child_idle = POOL.idle_count()
            sent = mail.send_mail("child", "Body", None, ["a@x.test"])
            code = 0 if (child_idle, sent) == (0, 1) else 2
        finally:
            os._exit(code)
    assert _wait_for_child(pid) == 0
    mail.send_mail("parent 2", "Body", None, ["a@x.test"])
    assert _subjects(recording) == ["child", "parent 1", "parent 2"]
    parent, child = recording.handler.sessions
    assert parent == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"]
    assert child == ["EHLO", "MAIL", "RCPT", "DATA"]


def test_pool_off_opens_and_quits_a_connection_per_send_mail(
    use_backend, recording, make_profile, settings
):
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "POOL": False}
    make_profile(port=recording.port)
    for number in range(3):
        mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
    assert _quit_seen(recording)
    assert recording.handler.sessions == [["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]] * 3
    assert POOL.idle_count() == 0


def test_a_connection_held_with_get_connection_goes_back_to_the_pool_at_exit(
    use_backend, recording, make_profile
):
    make_profile(port=recording.port)
    with get_connection() as connection:
        connection.send_messages([EmailMessage("one", "Body", to=["a@x.test"])])
        connection.send_messages([EmailMessage("two", "Body", to=["a@x.test"])])
        assert POOL.idle_count() == 0  # held by this backend
    assert POOL.idle_count() == 1
    held = get_connection()
    assert held.open() is True  # a pooled connection is opened, for the caller
    assert held.open() is False
    held.send_messages([EmailMessage("three", "Body", to=["a@x.test"])])
    held.close()
    (events,) = recording.handler.sessions
    assert "QUIT" not in events and events.count("DATA") == 3
    assert _subjects(recording) == ["one", "three", "two"]


def test_a_refused_recipient_leaves_the_connection_pooled(use_backend, recording, make_profile):
    make_profile(port=recording.port)
    recording.handler.rcpt_reply = "550 5.1.1 No such user"
    with pytest.raises(Exception, match="No such user"):
        mail.send_mail("refused", "Body", None, ["nobody@x.test"])
    recording.handler.rcpt_reply = None
    mail.send_mail("accepted", "Body", None, ["a@x.test"])
    assert _subjects(recording) == ["accepted"]
    assert len(recording.handler.sessions) == 1


def test_a_connection_from_explicit_arguments_is_pooled_apart_from_the_profiles(
    use_backend, make_profile
):
    first_handler, second_handler = SessionRecordingHandler(), SessionRecordingHandler()
    with (
        running_smtp_server(handler=first_handler) as first,
        running_smtp_server(handler=second_handler) as second,
    ):
        make_profile(port=first.port)
        for _round in range(2):
            mail.send_mail("profile", "Body", None, ["a@x.test"])
            mail.send_mail(
                "explicit",
                "Body",
                None,
                ["a@x.test"],
                connection=get_connection(host="127.0.0.1", port=second.port),
            )
    assert _subjects(first) == ["profile", "profile"]
    assert _subjects(second) == ["explicit", "explicit"]
    assert len(first_handler.sessions) == 1 and len(second_handler.sessions) == 1


def test_process_exit_sends_quit(recording, make_profile):
    make_profile(port=recording.port)
    code = (
        "import django; django.setup()\n"
        "from django.core.mail import send_mail, get_connection\n"
        "backend = get_connection('smtpconfig.backends.EmailBackend')\n"
        "assert send_mail('exit', 'Body', None, ['a@x.test'], connection=backend) == 1\n"
        "from smtpconfig.delivery.pool import POOL\n"
        "assert POOL.idle_count() == 1\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.process_settings",
            "DATABASE_URL": database_url(db_connection),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert _subjects(recording) == ["exit"]
    assert _quit_seen(recording)
    assert recording.handler.sessions == [["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]]


def test_a_key_never_holds_the_password_in_clear(make_profile):
    from smtpconfig.transport.settings import ConnectionSettings

    settings_ = ConnectionSettings("127.0.0.1", 25, username=USER, password=PASSWORD)
    key = pool.connection_key(settings_)
    assert PASSWORD not in key and USER not in key
    assert key != pool.connection_key(settings_.replace(password=PASSWORD + "x"))
    assert key == pool.connection_key(settings_.replace(from_email="other@example.com"))
