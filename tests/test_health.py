"""/healthz and /readyz: what they check, what they answer, and what they never show.

Against the real database (SQLite, or PostgreSQL with DATABASE_URL); the
unreachable database is a real gunicorn process whose DATABASE_URL points at a
closed port on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from smtpconfig import crypto
from smtpconfig.models import OutboxMessage, SMTPProfile
from tests.helpers import PASSWORD, USER, database_url, stop_process
from tests.smtpd import free_port

ROOT = Path(__file__).resolve().parent.parent


def _secrets_absent(body: str, profile: SMTPProfile | None = None) -> None:
    assert PASSWORD not in body
    assert django_settings.TEST_ENCRYPTION_KEY not in body
    if profile is not None and profile.password_encrypted:
        assert profile.password_encrypted not in body


def _readyz(client) -> tuple[int, dict, str]:
    response = client.get("/readyz")
    body = response.content.decode()
    return response.status_code, json.loads(body), body


# /healthz


@pytest.mark.django_db
def test_healthz_answers_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_checks_answer_get_and_head_only(client, make_profile, path):
    make_profile()
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 405
    assert client.put(path).status_code == 405


# /readyz: every check passing


@pytest.mark.django_db
def test_readyz_is_ok_with_a_usable_default_profile(
    client, make_profile, django_assert_max_num_queries
):
    profile = make_profile(port=2525, username=USER, password=PASSWORD)
    # A fixed handful of queries: SELECT 1, the profiles (once per change), the outbox.
    with django_assert_max_num_queries(4):
        status, data, body = _readyz(client)
    assert status == 200, data
    assert data == {
        "status": "ok",
        "failing": [],
        "checks": {
            "database": {"ok": True},
            "encryption_key": {"ok": True},
            "default_profile": {"ok": True, "profile": "Main", "profile_pk": profile.pk},
            "outbox": {
                "ok": True,
                "waiting": 0,
                "oldest_waiting_seconds": 0,
                "threshold_seconds": 300,
            },
        },
    }
    _secrets_absent(body, profile)
    # Polled again: the profiles are not read again while they are unchanged.
    with django_assert_max_num_queries(2):
        assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_a_default_profile_without_a_password_is_ready(client, make_profile):
    make_profile()
    status, data, _body = _readyz(client)
    assert status == 200, data


@pytest.mark.django_db
def test_readyz_sets_no_cookie_and_is_never_cached(client, make_profile):
    make_profile()
    response = client.get("/readyz")
    assert not response.cookies
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_the_checks_are_not_redirected_to_https(client, settings, make_profile):
    """A load balancer probes plain HTTP on the application's port: SECURE_SSL_REDIRECT
    sends everything else to https://, not the checks (SECURE_REDIRECT_EXEMPT)."""
    settings.SECURE_SSL_REDIRECT = True
    make_profile()
    assert client.get("/admin/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


# /readyz: each failure, named


@pytest.mark.django_db
@pytest.mark.parametrize("profiles", [0, 1], ids=["no-profile", "no-default"])
def test_no_default_profile_fails_the_default_profile_check(client, make_profile, profiles):
    if profiles:
        make_profile(is_default=False)
    status, data, _body = _readyz(client)
    assert status == 503
    assert data["status"] == "fail"
    assert data["failing"] == ["default_profile"]
    assert data["checks"]["default_profile"] == {"ok": False, "reason": "no_default_profile"}


@pytest.mark.django_db
def test_a_password_sealed_to_other_settings_fails_naming_the_profile(client, make_profile):
    """QuerySet.update() moved the profile to another port: its password no longer unseals."""
    profile = make_profile(port=2525, username=USER, password=PASSWORD)
    SMTPProfile.objects.filter(pk=profile.pk).update(port=2526)
    status, data, body = _readyz(client)
    assert status == 503
    assert data["failing"] == ["default_profile"]
    assert data["checks"]["default_profile"] == {
        "ok": False,
        "profile": "Main",
        "profile_pk": profile.pk,
        "reason": "secret_unreadable",
    }
    _secrets_absent(body, profile)


@pytest.mark.django_db
def test_another_valid_key_fails_the_default_profile_not_the_key(client, settings, make_profile):
    profile = make_profile(port=2525, username=USER, password=PASSWORD)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": [crypto.generate_key()]}
    status, data, body = _readyz(client)
    assert status == 503
    assert data["failing"] == ["default_profile"]
    assert data["checks"]["encryption_key"] == {"ok": True}
    assert data["checks"]["default_profile"]["reason"] == "secret_unreadable"
    assert data["checks"]["default_profile"]["profile_pk"] == profile.pk
    _secrets_absent(body, profile)


@pytest.mark.django_db
@pytest.mark.parametrize(("keys", "reason"), [([], "missing"), (["not-a-fernet-key"], "invalid")])
def test_a_missing_or_invalid_key_fails_the_key_check(client, settings, make_profile, keys, reason):
    profile = make_profile(port=2525, username=USER, password=PASSWORD)
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "ENCRYPTION_KEYS": keys}
    status, data, body = _readyz(client)
    assert status == 503
    assert data["checks"]["encryption_key"] == {"ok": False, "reason": reason}
    # Nothing stored can be decrypted either.
    assert data["failing"] == ["encryption_key", "default_profile"]
    assert "not-a-fernet-key" not in body
    _secrets_absent(body, profile)


@pytest.mark.django_db
def test_a_message_waiting_too_long_fails_the_outbox_check(client, settings, make_profile):
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    make_profile()
    assert mail.send_mail("Subject", "Body", None, ["to@example.org"]) == 1
    status, data, _body = _readyz(client)
    assert status == 200, data  # just queued: a worker has time
    assert data["checks"]["outbox"]["waiting"] == 1

    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=400))
    status, data, _body = _readyz(client)
    assert status == 503
    assert data["failing"] == ["outbox"]
    outbox = data["checks"]["outbox"]
    assert outbox["ok"] is False and outbox["waiting"] == 1
    assert outbox["oldest_waiting_seconds"] >= 400
    assert outbox["threshold_seconds"] == 300


@pytest.mark.django_db
def test_the_outbox_threshold_is_outbox_stale_seconds(client, settings, make_profile):
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    settings.SMTPCONFIG = {**settings.SMTPCONFIG, "OUTBOX_STALE_SECONDS": 1000}
    make_profile()
    mail.send_mail("Subject", "Body", None, ["to@example.org"])
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=400))
    status, data, _body = _readyz(client)
    assert status == 200, data
    assert data["checks"]["outbox"]["threshold_seconds"] == 1000


# A real server process: gunicorn, with the database reachable and not.


def _gunicorn(database: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mailsettings.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--graceful-timeout",
            "2",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.process_settings",
            "DATABASE_URL": database,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port


def _get(port: int, path: str) -> tuple[int, str]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:  # not listening yet
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_gunicorn_answers_ready_then_503_naming_an_unreachable_database(make_profile):
    make_profile(port=2525, username=USER, password=PASSWORD)
    process, port = _gunicorn(database_url(connection))
    try:
        status, body = _get(port, "/readyz")
    finally:
        output = stop_process(process)
    assert status == 200, body + output
    _secrets_absent(body)

    closed = free_port()  # nothing listens there: the database does not answer
    process, port = _gunicorn(f"postgres://postgres@127.0.0.1:{closed}/nowhere")
    try:
        health = _get(port, "/healthz")
        status, body = _get(port, "/readyz")
    finally:
        output = stop_process(process)
    assert health == (200, '{"status": "ok"}'), output
    assert status == 503, body + output
    data = json.loads(body)
    assert data["failing"] == ["database"]
    assert data["checks"]["database"] == {"ok": False, "reason": "unavailable"}
    assert data["checks"]["encryption_key"] == {"ok": True}
    # What needs the database is not run, and not counted as a failure of its own.
    assert data["checks"]["default_profile"] == {"ok": None, "reason": "database_unavailable"}
    assert data["checks"]["outbox"] == {"ok": None, "reason": "database_unavailable"}
    assert str(closed) not in body  # no driver message (host, port, user) in the answer


@pytest.mark.django_db
def test_a_balancer_may_skip_the_outbox_check(client, settings, make_profile):
    """Workers stopped: every web instance fails the outbox check at once. A balancer's
    probe leaves it out and keeps them serving; monitoring still sees the backlog."""
    settings.EMAIL_BACKEND = "smtpconfig.backends.QueuedEmailBackend"
    make_profile()
    mail.send_mail("Subject", "Body", None, ["to@example.org"])
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=400))
    assert _readyz(client)[0] == 503

    response = client.get("/readyz?skip=outbox")
    data = json.loads(response.content)
    assert response.status_code == 200, data
    assert data["checks"]["outbox"] == {"ok": None, "reason": "skipped"}
    assert data["checks"]["default_profile"]["ok"] is True


@pytest.mark.django_db
def test_skipping_leaves_the_other_checks_in_force(client, make_profile):
    response = client.get("/readyz?skip=outbox")  # no profile at all
    data = json.loads(response.content)
    assert response.status_code == 503
    assert data["failing"] == ["default_profile"]


@pytest.mark.django_db
def test_an_unknown_check_to_skip_is_a_400_naming_the_checks(client):
    response = client.get("/readyz?skip=outbox,database-typo")
    data = json.loads(response.content)
    assert response.status_code == 400
    assert data["unknown_checks"] == ["database-typo"]
    assert data["checks"] == ["database", "encryption_key", "default_profile", "outbox"]
