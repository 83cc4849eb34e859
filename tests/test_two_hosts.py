"""Two "hosts" on one PostgreSQL database, for real (issue 16).

Each host is a gunicorn process of the host project (``mailsettings``, settings from
the environment, two workers of two threads) on a port of its own; both have the
same ``DATABASE_URL``, a database this module creates on the PostgreSQL server at
127.0.0.1:5432 and drops afterwards. The test speaks HTTP to them as a browser
would: it signs in on the admin's login page, keeps the session and CSRF cookies,
and posts the admin's own forms with the CSRF token read from the page.

Shown here:

- a profile saved through host A is used by host B's next message (B's task
  worker, whose profile snapshot and pooled connection were warm, sends to the
  new server);
- the admin's test rate limit counts the tests run through both hosts once (the
  database cache, and Redis with ``DJANGO_CACHE_URL``);
- concurrent saves making different profiles the default, through both hosts at
  the same moment, leave exactly one default.

Skipped when PostgreSQL does not answer (``.ci/run`` starts it).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from .helpers import claim_redis_database, form_data, wait_until
from .smtpd import free_port, running_smtp_server

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
# smtpconfig's default TEST_RATE_LIMIT (tests a user may run per minute); the hosts run
# with the host project's settings, which keep it.
TEST_RATE_LIMIT = 10


def _postgres_answers() -> bool:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


pytestmark = pytest.mark.skipif(
    not _postgres_answers(),
    reason="no PostgreSQL at 127.0.0.1:5432 (user postgres, trust): .ci/run starts one",
)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Let the test see the admin's 302 after a save instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """An HTTP client with cookies, as a browser signed in to one host's admin."""

    def __init__(self, base_url: str, cookies: CookieJar | None = None):
        self.base_url = base_url
        self.cookies = cookies if cookies is not None else CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()
        )

    def request(self, path: str, data: dict | None = None, headers: dict | None = None):
        """(status, body) of a GET, or of a POST of ``data`` as a form."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        url = self.base_url + path  # http://127.0.0.1 only
        request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def csrf_token(self, path: str) -> str:
        """The CSRF token of the form on the page at ``path``, as a browser submits it."""
        status, html = self.request(path)
        assert status == 200, (path, status)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(self, path: str, data: dict, headers: dict | None = None):
        """Open the page at ``path``, then post ``data`` with the page's CSRF token."""
        token = self.csrf_token(path)
        return self.request(path, {**data, "csrfmiddlewaretoken": token}, headers)

    def sign_in(self, username: str) -> Browser:
        status, _ = self.post_form(
            "/admin/login/",
            {"username": username, "password": ADMIN_PASSWORD, "next": "/admin/"},
        )
        assert status == 302, f"could not sign in as {username} on {self.base_url}"
        assert any(cookie.name == "sessionid" for cookie in self.cookies)
        return self

    def on(self, base_url: str) -> Browser:
        """A second browser tab: the same cookies, another connection (for threads)."""
        jar = CookieJar()
        for cookie in self.cookies:
            jar.set_cookie(cookie)
        return Browser(base_url, jar)


@dataclass
class Deployment:
    """The shared database and the environment every process of the deployment has."""

    database_url: str
    env: dict
    logs: Path

    def manage(self, *arguments: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.database_url, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    @contextmanager
    def process(self, name: str, arguments: list[str], **env):
        """A long-running process of the deployment (a gunicorn, a worker), stopped after."""
        log_path = self.logs / f"{name}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                arguments, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=log
            )
        try:
            yield process, log_path
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A database of its own on the PostgreSQL server, migrated, with its cache table,
    static files, an admin account and an account to reset; dropped at the end."""
    from django.conf import settings

    name = f"smtpconfig_two_hosts_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    runtime = tmp_path_factory.mktemp("two-hosts")
    database_url = f"postgres://postgres@127.0.0.1:5432/{name}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SMTPCONFIG_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="mailsettings.settings",
        MAILSETTINGS_RUNTIME_DIR=str(runtime),
        DATABASE_URL=database_url,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        SMTPCONFIG_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        # The site's mail leaves from the process that sends it (no outbox hop).
        DJANGO_EMAIL_BACKEND="smtpconfig.backends.EmailBackend",
        # Look-ups go to the tests' DNS server on 127.0.0.1, never the machine's.
        SMTPCONFIG_DNS_NAMESERVERS=settings.TEST_DNS_ADDRESS,
    )
    deployment = Deployment(database_url, env, runtime)
    try:
        deployment.manage("migrate", "--noinput")
        deployment.manage("createcachetable")
        deployment.manage("collectstatic", "--noinput")
        deployment.shell(
            "from django.contrib.auth.models import User\n"
            f"for name in ('admin', 'ratelimit-database', 'ratelimit-redis'):\n"
            f"    User.objects.create_superuser(name, name + '@example.com', {ADMIN_PASSWORD!r})\n"
            f"User.objects.create_user('reader', 'reader@example.com', {ADMIN_PASSWORD!r})\n"
        )
        yield deployment
    finally:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _gunicorn(deployment: Deployment, name: str, **env):
    """One host: gunicorn with the host project's WSGI application on a port of its own.

    Options on the command line beat a ``gunicorn.conf.py`` in the working directory,
    which gunicorn reads by itself.
    """
    port = free_port()
    arguments = [
        *(sys.executable, "-m", "gunicorn", "mailsettings.wsgi"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2"),
        *("--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-"),
    ]
    with deployment.process(name, arguments, **env) as (process, log):
        url = f"http://127.0.0.1:{port}"

        def answers():
            if process.poll() is not None:
                pytest.fail(f"{name} stopped:\n{log.read_text()[-3000:]}")
            try:
                return Browser(url).request("/admin/login/")[0] == 200
            except OSError:
                return False

        wait_until(answers, 60, f"{name} to answer")
        yield url


@pytest.fixture(scope="module")
def hosts(deployment):
    """Hosts A and B, with the database cache (the host project's default)."""
    with _gunicorn(deployment, "host-a") as a, _gunicorn(deployment, "host-b") as b:
        yield a, b


@pytest.fixture(scope="module")
def redis_cache_url():
    """A database of the Redis at 127.0.0.1:6379 that only this module uses, emptied after."""
    with claim_redis_database() as url:
        yield url


@pytest.fixture
def hosts_with_cache(request, deployment):
    """Hosts A and B sharing the cache ``request.param`` names (database or redis)."""
    if request.param == "database":
        yield request.getfixturevalue("hosts")
        return
    url = request.getfixturevalue("redis_cache_url")
    with (
        _gunicorn(deployment, "host-a-redis", DJANGO_CACHE_URL=url) as a,
        _gunicorn(deployment, "host-b-redis", DJANGO_CACHE_URL=url) as b,
    ):
        yield a, b


def _add_profile(deployment: Deployment, admin: Browser, name: str, port: int, **fields) -> int:
    """Save a new profile through the admin's add page; its primary key."""
    status, _ = admin.post_form(
        "/admin/smtpconfig/smtpprofile/add/",
        form_data(name=name, port=str(port), **fields),
    )
    assert status == 302, f"the profile {name!r} was not saved"
    [(pk,)] = deployment.query("SELECT id FROM smtpconfig_smtpprofile WHERE name = %s", name)
    return pk


def _reset_password(browser: Browser, email: str) -> None:
    status, _ = browser.post_form("/admin/password_reset/", {"email": email})
    assert status == 302, "the password reset form was not accepted"


def test_a_profile_saved_through_host_a_is_used_by_host_bs_next_message(deployment, hosts):
    """Host B's worker sends one reset through the default profile (snapshot and pooled
    connection warm); the profile is then pointed at another server through host A's
    admin; B's next message goes to that server."""
    host_a, host_b = hosts
    admin = Browser(host_a).sign_in("admin")
    visitor = Browser(host_b)
    with (
        running_smtp_server() as old_server,
        running_smtp_server() as new_server,
        deployment.process(
            "worker-b",
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2"],
        ),
    ):
        pk = _add_profile(deployment, admin, "Two hosts", old_server.port)

        _reset_password(visitor, "reader@example.com")
        wait_until(lambda: old_server.messages, 30, "the first reset at the old server")

        change = f"/admin/smtpconfig/smtpprofile/{pk}/change/"
        status, _ = admin.post_form(change, form_data(name="Two hosts", port=new_server.port))
        assert status == 302, "the change was not saved"

        _reset_password(visitor, "reader@example.com")
        wait_until(lambda: new_server.messages, 30, "the second reset at the new server")
        assert len(old_server.messages) == 1
        assert new_server.messages[0].rcpt_tos == ["reader@example.com"]
        assert "Password reset" in new_server.messages[0].message["Subject"]


def _start_of_a_minute_window() -> None:
    """Wait, if the clock minute is nearly over, for the next one (at most 20 s): the
    limit counts per clock minute with a sliding weight, and the test's dozen requests
    must fall in one minute for the count to be exact."""
    if time.time() % 60 > 40:
        time.sleep(60.5 - time.time() % 60)


@pytest.mark.parametrize("hosts_with_cache", ["database", "redis"], indirect=True)
def test_the_test_rate_limit_is_counted_once_across_both_hosts(request, hosts_with_cache):
    """Tests run alternately through A and B: the limit is reached after TEST_RATE_LIMIT
    tests in all, not per host, and then both hosts refuse."""
    host_a, host_b = hosts_with_cache
    username = f"ratelimit-{request.node.callspec.params['hosts_with_cache']}"
    browsers = [Browser(host_a).sign_in(username), Browser(host_b).sign_in(username)]
    with running_smtp_server() as server:
        data = form_data(
            name="Limited", port=str(server.port), _check_connection="1", _test_to="a@example.org"
        )
        _start_of_a_minute_window()
        outcomes = []
        for number in range(TEST_RATE_LIMIT + 4):
            browser = browsers[number % 2]
            status, body = browser.post_form(
                "/admin/smtpconfig/smtpprofile/add/test/",
                data,
                headers={"X-Requested-With": "XMLHttpRequest"},
            )
            answer = json.loads(body)
            outcomes.append((status, answer["ok"]))
            if status == 429:
                assert "tests in the last minute" in answer["error"]
    assert outcomes == [(200, True)] * TEST_RATE_LIMIT + [(429, False)] * 4
    # Refused on both hosts: the last four went to A, B, A, B.


def _save_at_once(saves: list[tuple[Browser, str, dict]]) -> list[int]:
    """Post each (browser, path, data) from a thread of its own, all released at once
    after each has opened its page (for the CSRF token); the answers' status codes."""
    barrier = threading.Barrier(len(saves), timeout=60)
    statuses: list[int | None] = [None] * len(saves)
    errors: list[BaseException] = []

    def save(index: int, browser: Browser, path: str, data: dict) -> None:
        try:
            token = browser.csrf_token(path)
            barrier.wait()
            statuses[index] = browser.request(path, {**data, "csrfmiddlewaretoken": token})[0]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=save, args=(i, *each)) for i, each in enumerate(saves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a save did not return"
    assert not errors, errors
    return statuses


def test_concurrent_default_saves_through_both_hosts_leave_exactly_one_default(deployment, hosts):
    """Twelve saves, each making another profile the default, posted through A and B at
    the same moment (three rounds): exactly one default profile after each round."""
    host_a, host_b = hosts
    admin = Browser(host_a).sign_in("admin")
    names = [f"Race {number}" for number in range(12)]
    pks = [_add_profile(deployment, admin, name, 2525, is_default=None) for name in names]
    # The session made through A is valid on B: sessions live in the shared database (and
    # cookies belong to the host name, whatever the port).
    hosts_in_turn = [host_a, host_b]
    for round_number in range(3):
        statuses = _save_at_once(
            [
                (
                    admin.on(hosts_in_turn[index % 2]),
                    f"/admin/smtpconfig/smtpprofile/{pk}/change/",
                    form_data(name=names[index], port="2525", is_default="on"),
                )
                for index, pk in enumerate(pks)
            ]
        )
        assert statuses == [302] * len(pks), f"round {round_number}: {statuses}"
        defaults = deployment.query(
            "SELECT id FROM smtpconfig_smtpprofile WHERE is_default ORDER BY id"
        )
        assert len(defaults) == 1, f"round {round_number}: defaults {defaults}"
        assert defaults[0][0] in pks
