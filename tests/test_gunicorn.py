"""The admin's longest request under the real gunicorn, started with gunicorn.conf.py.

A server that answers each reply just inside the profile's timeout once kept "Send
test email" past gunicorn's 30 s: the worker was killed, the user got an error page
and the test's outcome was never recorded (issue 16). Here the conversation's cap is
lowered to 3 s (so the test stays short) and gunicorn's timeout is still derived from
it, with a margin of 1 s only, on the sync worker, whose timeout kills a request: if the
timeout did not cover the longest test, this request would be the one killed.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.urls import reverse

from smtpconfig.models import SMTPProfile

from .helpers import database_url, profile_form
from .smtpd import PLAIN_REPLIES, free_port, scripted_server, slowly

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
TIMEOUT = 2
#: Just under the profile's timeout: no single wait runs out, the conversation's cap does.
NEARLY = TIMEOUT - 0.2
CAP = 3


@contextlib.contextmanager
def gunicorn(settings, port: int, log: Path):
    """gunicorn with gunicorn.conf.py on the test database: one sync worker, the cap lowered
    to CAP, the timeout derived from it; yields its stderr's path (the error log)."""
    options = {"MAX_CONVERSATION_SECONDS": CAP, "DNS_NAMESERVERS": [settings.TEST_DNS_ADDRESS]}
    env = {
        **{
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("GUNICORN_", "DJANGO_", "SMTPCONFIG_"))
            and name not in ("PORT", "WEB_CONCURRENCY")
        },
        "DJANGO_SETTINGS_MODULE": "tests.process_settings",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(connection),
        "SMTPCONFIG_TEST_OPTIONS": json.dumps(options),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "1",
        "GUNICORN_TIMEOUT_MARGIN": "1",
    }
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "gunicorn did not answer: " + log.read_text()
                time.sleep(0.2)
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def signed_in_session(user) -> str:
    """The session cookie of a signed-in admin, its session in the database gunicorn reads."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_send_test_email_against_a_server_slow_at_every_reply_ends_in_a_page(settings, tmp_path):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    session = signed_in_session(user)
    csrf = _get_new_csrf_string()
    port = free_port()
    replies = {word: slowly(reply, NEARLY) for word, reply in PLAIN_REPLIES.items()}
    greeting = slowly(b"220 slow.test ESMTP\r\n", NEARLY)
    log_path = tmp_path / "gunicorn.log"
    with scripted_server(greeting, replies) as server, gunicorn(settings, port, log_path) as log:
        profile = SMTPProfile.objects.create(
            name="Slow",
            host="127.0.0.1",
            port=server.port,
            security="none",
            from_email="noreply@example.com",
            timeout=TIMEOUT,
            is_default=True,
        )
        data = profile_form(profile, _send_test="1", _test_to="to@example.org")
        data["csrfmiddlewaretoken"] = csrf
        url = reverse("admin:smtpconfig_smtpprofile_test", args=[profile.pk])
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{url}",
            data=urllib.parse.urlencode(data).encode(),
            headers={"Cookie": f"sessionid={session}; csrftoken={csrf}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http://127.0.0.1)
            status, html = response.status, response.read().decode()
        errors = log.read_text()

    assert status == 200
    # The outcome is on the page: the test ran out of its time, and the page says so.
    assert "took longer than its limit of 3 s" in html
    assert "WORKER TIMEOUT" not in errors
    # ... and recorded: on the profile, and in its history.
    profile.refresh_from_db()
    assert profile.last_test_ok is False
    assert "longer than its limit" in json.dumps(profile.last_test_report)
    entry = LogEntry.objects.get(object_id=str(profile.pk))
    assert "Sent a test email to to@example.org" in entry.get_change_message()
