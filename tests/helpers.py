"""What the tests share besides fixtures: credentials, admin URLs and form data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from smtpconfig.models import SMTPProfile

# Punctuation and non-ASCII letters: what the stdlib's ASCII-only AUTH cannot send.
PASSWORD = "p@ss:wörd/Ключ;!"
USER = "mailer@example.com"


ADD_URL = reverse("admin:smtpconfig_smtpprofile_add")
LIST_URL = reverse("admin:smtpconfig_smtpprofile_changelist")


def change_url(profile):
    return reverse("admin:smtpconfig_smtpprofile_change", args=[profile.pk])


def form_data(**overrides):
    data = {
        "name": "Main",
        "preset": "",
        "host": "127.0.0.1",
        "port": "25",
        "security": "none",
        "username": "",
        "password": "",
        "from_name": "Example Site",
        "from_email": "noreply@example.com",
        "reply_to": "",
        "timeout": "5",
        "verify_certificate": "on",
        "allow_plaintext_auth": "on",
        "ca_certificate": "",
        "test_recipient": "",
        "enabled": "on",
        "is_default": "on",
        "priority": "100",
        "sender_domains": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def make_oauth_profile(*, mail_server=None, **fields) -> SMTPProfile:
    """A saved profile that signs in with OAuth2 at a custom provider (``fields`` win).

    The client secret and refresh token are assigned through their properties once the
    other fields are set (pass ``""`` for none). With ``mail_server``, the profile sends
    through that loopback test server: plain SMTP, plain-text login allowed, 5 s timeout.
    """
    values = {
        "name": "OAuth",
        "host": "smtp.example.com",
        "port": 587,
        "username": USER,
        "from_email": USER,
        "is_default": True,
        "auth_method": "oauth2",
        "oauth_provider": "custom",
        "oauth_client_id": "client-1",
        "oauth_scopes": "SMTP.Send offline_access",
    }
    if mail_server is not None:
        values |= {
            "host": "127.0.0.1",
            "port": mail_server.port,
            "security": "none",
            "allow_plaintext_auth": True,
            "timeout": 5,
        }
    secrets = {"oauth_client_secret": "client-secret", "oauth_refresh_token": ""}
    for name in secrets:
        secrets[name] = fields.pop(name, secrets[name])
    profile = SMTPProfile(**(values | fields))
    for name, value in secrets.items():
        setattr(profile, name, value)
    profile.save()
    return profile


def page(response) -> str:
    return response.content.decode()


def database_url(connection) -> str:
    """A DATABASE_URL for the test database ``connection`` uses (for a second process)."""
    from urllib.parse import quote

    info = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(info["USER"] or "")
        if info["PASSWORD"]:
            credentials += ":" + quote(info["PASSWORD"])
        port = f":{info['PORT']}" if info["PORT"] else ""
        return f"postgres://{credentials}@{info['HOST'] or '127.0.0.1'}{port}/{info['NAME']}"
    return f"sqlite:///{info['NAME']}"


def client_with(*codenames, username="staff"):
    """A logged-in staff user with exactly these permissions."""
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def profile_form(profile, **overrides):
    """What the change form posts for ``profile`` (blank password: keep), with ``overrides``
    (None leaves a field out, as an unticked box)."""
    data = {
        "name": profile.name,
        "host": profile.host,
        "port": str(profile.port),
        "security": profile.security,
        "username": profile.username,
        "password": "",
        "from_name": profile.from_name,
        "from_email": profile.from_email,
        "timeout": str(profile.timeout),
        "verify_certificate": "on",
        "allow_plaintext_auth": "on",
        "enabled": "on",
        "priority": str(profile.priority),
    }
    if profile.is_default:
        data["is_default"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def run_in_another_process(code: str) -> None:
    """Run ``code`` in ``manage.py shell`` in a process of its own, on the test database
    (for changes another worker or a script makes); fail with its stderr."""
    from django.conf import settings
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailsettings.settings",
        "DATABASE_URL": database_url(connection),
        "SMTPCONFIG_ENCRYPTION_KEYS": settings.TEST_ENCRYPTION_KEY,
        "DJANGO_SECRET_KEY": "x" * 50,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def run_ready_tasks(limit: int = 100) -> int:
    """Run the database task backend's ready tasks here, as ``manage.py db_worker`` would
    (which closes the database connection, and with it a test's transaction); return how many."""
    from django_tasks_db.models import DBTaskResult

    ran = 0
    while ran < limit:
        result = DBTaskResult.objects.ready().order_by("enqueued_at").first()
        if result is None:
            return ran
        task_result = result.task_result
        result.task.call(*task_result.args, **task_result.kwargs)
        result.set_successful(None)
        ran += 1
    return ran


def wait_until(condition, seconds: float, what: str):
    """Wait for ``condition()`` to be true and return it (a bound, not a timing); fail
    naming ``what`` once ``seconds`` have passed."""
    import pytest

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen) -> str:
    """Stop ``process`` (SIGTERM, then SIGKILL after 10 s) and return what it printed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    output, _ = process.communicate(timeout=10)
    return output or ""


#: The Redis the tests share (.ci/run starts it); each test claims a database of its own.
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def claim_redis_database():
    """A context manager: the URL of a database of the shared Redis that only this caller
    uses, emptied afterwards. The first empty one it can mark as its own (SET NX), so that
    concurrent runs keep clear of each other. Skips without Redis or a free database."""
    from contextlib import contextmanager

    import pytest

    redis = pytest.importorskip("redis", reason="the redis package is not installed (.[rq])")

    @contextmanager
    def claimed():
        claim_key = "smtpconfig-tests:claimed-by"
        try:
            redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=1).ping()
        except redis.RedisError:
            pytest.skip("no Redis on 127.0.0.1:6379 (.ci/run starts one)")
        for number in range(1, 16):
            url = f"redis://127.0.0.1:6379/{number}"
            client = redis.Redis.from_url(url)
            if client.dbsize() == 0 and client.set(claim_key, os.getpid(), nx=True, ex=3600):
                if client.dbsize() == 1:
                    break
                client.delete(claim_key)
        else:
            pytest.skip("no free database on the Redis at 127.0.0.1:6379")
        try:
            yield url
        finally:
            client.flushdb()

    return claimed()
