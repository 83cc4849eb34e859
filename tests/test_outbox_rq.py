"""The outbox on RQ and Redis, for real: worker processes, a Redis server, an SMTP server.

Every process but the test's own runs the host project's settings with
``DJANGO_TASKS_BACKEND=rq`` on the test database, as the machines of a
deployment would (docs/deploy.md). Each test has a Redis database of its own
on the shared server at 127.0.0.1:6379 (or a Redis server of its own), so that
runs at the same time never take each other's jobs, and empties only that.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from smtpconfig.models import OutboxMessage, OutboxState, Security, SMTPProfile

from .helpers import SHARED_REDIS, claim_redis_database, database_url, wait_until
from .smtpd import free_port, running_smtp_server

redis = pytest.importorskip("redis", reason="the rq extra is not installed (pip install .[rq])")
pytest.importorskip("django_tasks_rq", reason="the rq extra is not installed (pip install .[rq])")

ROOT = Path(__file__).resolve().parent.parent


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not _redis_answers(SHARED_REDIS),
        reason="no Redis on 127.0.0.1:6379 (.ci/run starts one; start redis-server to run these)",
    ),
]


@pytest.fixture
def redis_url():
    """A database of the shared Redis that only this test uses, emptied afterwards: the
    outbox's task goes to RQ's queue named like its own ("default"), so a test keeps
    clear of other runs by its database number."""
    with claim_redis_database() as url:
        yield url


def _environment(redis_url: str, **extra) -> dict:
    """The environment of a machine of the deployment: host settings, RQ, the test database."""
    from django.conf import settings
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailsettings.settings",
        "DATABASE_URL": database_url(connection),
        "SMTPCONFIG_ENCRYPTION_KEYS": settings.TEST_ENCRYPTION_KEY,
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_TASKS_BACKEND": "rq",
        "REDIS_URL": redis_url,
        **extra,
    }


def _manage(env: dict, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result


def _send(env: dict, count: int) -> None:
    """Send ``count`` messages from another process (the web app), each in its own request."""
    _manage(
        env,
        "shell",
        "-c",
        "from django.core.mail import send_mail\n"
        f"for n in range({count}):\n"
        "    send_mail(f'Message {n}', 'Body', 'site@example.com', [f'user{n}@example.com'])\n",
    )


@contextmanager
def _workers(env: dict, count: int, log_dir: Path):
    """``count`` RQ worker processes (each with the scheduler); stopped after."""
    processes = []
    try:
        for number in range(count):
            log = open(log_dir / f"worker{number}.log", "w")  # noqa: SIM115 - closed below
            processes.append(
                (
                    subprocess.Popen(
                        [sys.executable, "manage.py", "rqworker", "--with-scheduler", "default"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
        yield [process for process, _log in processes]
    finally:
        for process, _log in processes:
            process.terminate()
        for process, log in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            log.close()


def _registered_workers(redis_url: str) -> int:
    return redis.Redis.from_url(redis_url).scard("rq:workers:default")


@contextmanager
def _redis_server(port: int, directory: Path):
    """A Redis server of the test's own on ``port`` (nothing kept on disk); stopped after."""
    process = subprocess.Popen(
        [
            shutil.which("redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _redis_answers(f"redis://127.0.0.1:{port}/0"), 10, "Redis to start")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _profile(port: int) -> SMTPProfile:
    return SMTPProfile.objects.create(
        name="Relay",
        host="127.0.0.1",
        port=port,
        security=Security.NONE,
        from_email="site@example.com",
        timeout=5,
        is_default=True,
    )


def _message_ids(server) -> Counter:
    return Counter(received.message["Message-ID"] for received in server.messages)


def _sent_by_worker(redis_url: str) -> Counter:
    """What the finished drains report having sent (their results in Redis), by RQ worker."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    connection = redis.Redis.from_url(redis_url)
    sent = Counter()
    for job_id in FinishedJobRegistry("default", connection=connection).get_job_ids():
        result = Job.fetch(job_id, connection=connection).latest_result()
        sent[result.worker_name] += result.return_value["sent"]
    return sent


def _all_sent(count: int):
    return lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).count() == count


@pytest.mark.timeout(180)
def test_two_rq_workers_deliver_every_message_exactly_once(redis_url, tmp_path):
    """Two worker processes on one queue: 40 messages, each received once by the server."""
    with running_smtp_server() as server:
        _profile(server.port)
        env = _environment(redis_url)
        with _workers(env, 2, tmp_path):
            wait_until(lambda: _registered_workers(redis_url) == 2, 60, "both workers to start")
            _send(env, 40)
            wait_until(_all_sent(40), 120, "the 40 messages to be sent")
        received = _message_ids(server)
    # Each message was sent by one drain: what the drains report adds up (which worker sent
    # how many is up to who is free first, so it is not asserted).
    sent_by_worker = _sent_by_worker(redis_url)
    assert sum(sent_by_worker.values()) == 40, sent_by_worker
    rows = OutboxMessage.objects.all()
    assert rows.count() == 40
    assert {row.state for row in rows} == {OutboxState.SENT}
    assert set(received) == {row.message_id for row in rows}
    assert set(received.values()) == {1}, "a message was delivered more than once"
    assert len(server.messages) == 40


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
@pytest.mark.timeout(120)
def test_messages_queued_while_redis_is_down_are_delivered_once_it_is_back(tmp_path):
    """Redis stopped when the messages are queued: sending still succeeds, the messages wait
    in the outbox, and the sweeper has a worker send them once Redis is back."""
    redis_port = free_port()
    private_url = f"redis://127.0.0.1:{redis_port}/0"
    with running_smtp_server() as server:
        _profile(server.port)
        env = _environment(private_url)
        with _redis_server(redis_port, tmp_path):
            pass  # it ran, and is stopped now
        assert not _redis_answers(private_url)

        _send(env, 3)
        rows = OutboxMessage.objects.all()
        assert [row.state for row in rows] == [OutboxState.QUEUED] * 3

        # As if the sweeper's next pass came later: the messages have waited past the time
        # after which it takes their trigger for lost.
        rows.update(next_attempt_at=rows[0].next_attempt_at - timedelta(seconds=15))
        with _redis_server(redis_port, tmp_path):
            swept = _manage(
                env,
                "shell",
                "-c",
                "from smtpconfig.outbox.sweep import sweep\n"
                "result = sweep()\n"
                "print(result.due, result.woken)\n",
            )
            assert swept.stdout.splitlines()[-1].split() == ["3", "True"]
            _manage(env, "rqworker", "--burst", "--with-scheduler", "default")
        received = _message_ids(server)
    assert {row.state for row in OutboxMessage.objects.all()} == {OutboxState.SENT}
    assert set(received) == {row.message_id for row in OutboxMessage.objects.all()}
    assert set(received.values()) == {1}


@pytest.mark.timeout(120)
def test_a_deferred_retry_runs_from_rqs_scheduler(redis_url, tmp_path):
    """The server is down at the first attempt: the message is deferred, the worker asks RQ
    to run a drain when it is due, and RQ's scheduler runs it: sent at the second attempt."""
    smtp_port = free_port()
    _profile(smtp_port)
    env = _environment(redis_url, SMTPCONFIG_OUTBOX_RETRY_DELAY="3")
    client = redis.Redis.from_url(redis_url)
    with _workers(env, 1, tmp_path):
        wait_until(lambda: _registered_workers(redis_url) == 1, 60, "the worker to start")
        _send(env, 1)
        wait_until(
            lambda: OutboxMessage.objects.filter(state=OutboxState.DEFERRED).exists(),
            60,
            "the first attempt to fail",
        )
        # The retry waits in RQ's scheduled registry, not in the queue.
        assert client.zcard("rq:scheduled:default") == 1
        with running_smtp_server(port=smtp_port) as server:
            wait_until(_all_sent(1), 60, "the retry to send the message")
            received = _message_ids(server)
    row = OutboxMessage.objects.get()
    assert row.attempts == 2
    assert received == Counter({row.message_id: 1})
