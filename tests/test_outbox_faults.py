"""Faults that must not lose mail, with real worker processes (manage.py db_worker), real
SMTP servers and the real database (SQLite here, PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection

from smtpconfig.models import OutboxMessage
from smtpconfig.outbox.sweep import sweep
from tests.helpers import database_url, stop_process
from tests.smtpd import RecordingHandler, free_port, running_smtp_server

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


class SlowHandler(RecordingHandler):
    """Takes ``seconds`` to accept each message (a server far away, or busy)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(self.seconds)
        return await super().handle_DATA(server, session, envelope)


def _environment(**options) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.process_settings",
        "DATABASE_URL": database_url(connection),
        "SMTPCONFIG_TEST_OPTIONS": json.dumps(options),
    }


def _worker(*arguments: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
            *arguments,
        ],
        cwd=ROOT,
        env=_environment(**options),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _received_ids(server) -> Counter:
    return Counter(received.message["Message-ID"] for received in server.messages)


@pytest.fixture
def queued(settings):
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(queued, make_profile):
    with running_smtp_server(handler=SlowHandler(0.1)) as server:
        make_profile(port=server.port)
        for number in range(20):
            mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
        worker = _worker(OUTBOX_LEASE_SECONDS=2)
        try:
            _wait_for(lambda: len(server.messages) >= 5, 30, "the worker to send five")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            stop_process(worker)
        sent_before_kill = len(server.messages)
        assert sent_before_kill < 20, "the worker finished before it was killed"

        time.sleep(2.5)  # the killed worker's claim runs out
        result = sweep()
        assert result.woken
        finisher = _worker("--batch")
        try:
            assert finisher.wait(60) == 0
        finally:
            output = stop_process(finisher)

        states = Counter(OutboxMessage.objects.values_list("state", flat=True))
        received = _received_ids(server)
    assert set(received.values()) == {1}, "a message was sent twice"
    assert set(states) <= {"sent", "unknown"}, (states, output)
    assert states["unknown"] <= 1  # at most the one in flight when the worker died
    for row in OutboxMessage.objects.filter(state="sent"):
        assert received[row.message_id] == 1
    assert len(received) >= states["sent"]


def test_two_workers_on_one_outbox_send_each_message_once(queued, make_profile):
    with running_smtp_server(handler=SlowHandler(0.01)) as server:
        make_profile(port=server.port)
        for number in range(40):
            mail.send_mail(f"n{number}", "Body", None, ["a@x.test"])
        workers = [_worker("--batch", OUTBOX_BATCH_SIZE=4) for _ in range(2)]
        outputs = []
        try:
            for worker in workers:
                worker.wait(90)
        finally:
            outputs = [stop_process(worker) for worker in workers]
        received = _received_ids(server)
    assert len(received) == 40, outputs
    assert set(received.values()) == {1}, "a message was sent twice"
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"sent"}


def _send_mail_in_a_process(database: str) -> subprocess.CompletedProcess:
    code = (
        "from django.core.mail import send_mail\nsend_mail('Hello', 'Body', None, ['a@x.test'])\n"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mailsettings.settings",
            "DATABASE_URL": database,
            "SMTPCONFIG_ENCRYPTION_KEYS": settings.TEST_ENCRYPTION_KEY,
            "DJANGO_SECRET_KEY": "x" * 50,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "database",
    [
        f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "sqlite:////nonexistent-directory/db.sqlite3",
    ],
    ids=["postgresql-down", "sqlite-unreachable"],
)
def test_a_database_that_does_not_answer_gives_the_caller_a_clear_error(database):
    result = _send_mail_in_a_process(database)
    assert result.returncode != 0
    assert "OutboxUnavailable" in result.stderr
    assert "could not be queued for sending" in result.stderr
    assert "Nothing was sent" in result.stderr
