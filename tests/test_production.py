"""The host project in production (issue 16): `check --deploy` clean with the documented
values, and a start without its keys refused with one line.

Each case runs the real `manage.py` (and gunicorn with gunicorn.conf.py) in a subprocess
with an environment of its own: the host project's settings read it at import.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
SECRET_KEY = "tests-only-9f2c4e1a7b3d8f6e0a5c2b9d4e7f1a3c6b8d0e2f4a6c8e0b2d4f6a8c"
ENCRYPTION_KEY = "rGBX3Nd8y-iYnwZKCZTq3a6rzYN4b1J0uE0hZgEw-M0="

#: The example set README.md and docs/deploy.md give, behind a proxy that ends TLS.
PRODUCTION = {
    "DJANGO_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": SECRET_KEY,
    "SMTPCONFIG_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    "DJANGO_ALLOWED_HOSTS": "mail.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://mail.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
}


def environment(runtime: Path, **values: str) -> dict:
    """This process's environment without the host project's variables, plus ``values``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "SMTPCONFIG_", "DATABASE_URL", "GUNICORN_"))
        and name not in ("PORT", "WEB_CONCURRENCY")
    }
    env.update(MAILSETTINGS_RUNTIME_DIR=str(runtime), **values)
    return env


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)


def test_check_deploy_reports_nothing_with_the_documented_production_values(tmp_path):
    done = check_deploy(environment(tmp_path, **PRODUCTION))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNINGS" not in done.stdout + done.stderr
    assert "ERRORS" not in done.stdout + done.stderr


def test_check_deploy_warns_without_the_https_values(tmp_path):
    """The same values with HTTPS switched off: Django names each missing protection."""
    done = check_deploy(environment(tmp_path, **PRODUCTION, DJANGO_HTTPS="0"))
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "WARNINGS" in output
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output


def test_make_run_defaults_stay_plain_http(tmp_path):
    """Without DJANGO_PRODUCTION nothing is secure-only: `make run` serves http on 127.0.0.1,
    where a secure cookie would never come back and sign-in would fail."""
    env = environment(
        tmp_path, DJANGO_SECRET_KEY=SECRET_KEY, SMTPCONFIG_ENCRYPTION_KEYS=ENCRYPTION_KEY
    )
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.USE_X_FORWARDED_HOST)"
    )
    done = run([sys.executable, "manage.py", "shell", "-c", code], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["False", "False", "False", "0", "None", "False"]


@pytest.mark.parametrize(
    "missing, named",
    [
        (("DJANGO_SECRET_KEY",), "set DJANGO_SECRET_KEY in the environment"),
        (("SMTPCONFIG_ENCRYPTION_KEYS",), "set SMTPCONFIG_ENCRYPTION_KEYS in the environment"),
        (
            ("DJANGO_SECRET_KEY", "SMTPCONFIG_ENCRYPTION_KEYS"),
            "set DJANGO_SECRET_KEY and SMTPCONFIG_ENCRYPTION_KEYS in the environment",
        ),
    ],
)
def test_a_production_start_without_a_key_stops_with_one_line(tmp_path, missing, named):
    values = {name: value for name, value in PRODUCTION.items() if name not in missing}
    done = run([sys.executable, "manage.py", "check"], environment(tmp_path, **values))
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mailsettings: DJANGO_PRODUCTION is on: ")
    assert named in lines[0]
    assert "Traceback" not in done.stderr
    # Nothing was made in the runtime folder in the keys' place.
    assert not (tmp_path / "secret_key").exists()


def test_a_production_start_with_debug_on_stops_with_one_line(tmp_path):
    env = environment(tmp_path, **PRODUCTION, DJANGO_DEBUG="1")
    done = run([sys.executable, "manage.py", "check"], env)
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "mailsettings: DJANGO_PRODUCTION is on: unset DJANGO_DEBUG "
        "(its error page shows the settings)."
    ]


def test_gunicorn_with_its_configuration_refuses_a_production_start_without_keys(tmp_path):
    """The master reads the settings with its configuration: it stops before any worker."""
    values = {name: value for name, value in PRODUCTION.items() if name != "DJANGO_SECRET_KEY"}
    done = run([str(GUNICORN), "--config", "gunicorn.conf.py"], environment(tmp_path, **values))
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "set DJANGO_SECRET_KEY in the environment" in lines[0]
    assert "Booting worker" not in done.stderr


@pytest.mark.parametrize(
    "present, named",
    [
        ({"SMTPCONFIG_ENCRYPTION_KEYS": ENCRYPTION_KEY}, ["DJANGO_SECRET_KEY"]),
        ({"DJANGO_SECRET_KEY": SECRET_KEY}, ["SMTPCONFIG_ENCRYPTION_KEYS"]),
        ({}, ["DJANGO_SECRET_KEY", "SMTPCONFIG_ENCRYPTION_KEYS"]),
    ],
)
@pytest.mark.parametrize(
    "command",
    [["manage.py", "check"], ["manage.py", "migrate"], ["manage.py", "db_worker"]],
    ids=["check", "migrate", "db_worker"],
)
def test_with_debug_off_a_start_without_a_key_stops_with_one_line(
    tmp_path, present, named, command
):
    """Not only in production: DEBUG off and a key neither in the environment nor in the
    runtime folder is one line saying what to set, and no key is invented."""
    done = run([sys.executable, *command], environment(tmp_path, **present))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mailsettings: DJANGO_DEBUG is off: set ")
    for name in named:
        assert name in lines[0]
    assert ("DJANGO_SECRET_KEY" in lines[0]) == ("DJANGO_SECRET_KEY" in named)
    assert "smtp_generate_key" in lines[0] or "SMTPCONFIG_ENCRYPTION_KEYS" not in named
    assert not (tmp_path / "secret_key").exists()


def test_the_wsgi_application_without_a_key_stops_with_one_line(tmp_path):
    """gunicorn without our configuration file imports mailsettings.wsgi in each worker."""
    code = "import mailsettings.wsgi"
    env = environment(tmp_path, DJANGO_SECRET_KEY=SECRET_KEY)
    done = run([sys.executable, "-c", code], env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "mailsettings: DJANGO_DEBUG is off: set SMTPCONFIG_ENCRYPTION_KEYS (or run "
        "`python manage.py smtp_generate_key --file "
        f"{tmp_path / 'encryption.key'}`); `make setup` makes both for a development machine."
    ]


@pytest.mark.parametrize("production", ["0", "1"])
def test_the_key_is_made_without_keys_even_in_production(tmp_path, production):
    """The command that makes the encryption key runs before there is one."""
    env = environment(tmp_path, DJANGO_PRODUCTION=production)
    done = run([sys.executable, "manage.py", "smtp_generate_key"], env)
    assert done.returncode == 0, done.stderr
    Fernet(done.stdout.split()[0])  # a usable key


def test_the_keys_in_the_runtime_folder_are_enough_without_production(tmp_path):
    """`make run`: `make setup` writes both keys under var/, and every command starts."""
    (tmp_path / "encryption.key").write_text(ENCRYPTION_KEY)
    (tmp_path / "secret_key").write_text(SECRET_KEY)
    done = run([sys.executable, "manage.py", "check"], environment(tmp_path))
    assert done.returncode == 0, done.stderr


def test_in_development_the_secret_key_is_made_under_var(tmp_path):
    """DEBUG on (a developer's machine): nothing is required, and the secret key is made."""
    done = run([sys.executable, "manage.py", "check"], environment(tmp_path, DJANGO_DEBUG="1"))
    assert "mailsettings:" not in done.stderr
    assert (tmp_path / "secret_key").exists()


def gunicorn_timeout(env: dict) -> int:
    done = run([str(GUNICORN), "--config", "gunicorn.conf.py", "--print-config"], env)
    assert done.returncode == 0, done.stderr
    values = dict(
        (part.strip() for part in line.split("=", 1)) for line in done.stdout.splitlines()
    )
    return int(values["timeout"])


def test_gunicorns_timeout_follows_the_longest_conversation(tmp_path):
    """Raising MAX_CONVERSATION_SECONDS raises the request timeout by as much, past the
    longest test."""
    env = environment(
        tmp_path, DJANGO_SECRET_KEY=SECRET_KEY, SMTPCONFIG_ENCRYPTION_KEYS=ENCRYPTION_KEY
    )
    default = gunicorn_timeout(env)
    longer = gunicorn_timeout({**env, "SMTPCONFIG_MAX_CONVERSATION_SECONDS": "100"})
    assert default > 25  # the default cap: no test outlasts the request
    assert longer - default == 75
    assert gunicorn_timeout({**env, "GUNICORN_TIMEOUT_MARGIN": "0"}) < default


def test_djangos_own_errors_reach_the_log_in_the_chosen_format(tmp_path):
    """With DEBUG off, a refused Host (and a 500's traceback) would otherwise go nowhere
    but ADMINS' mail: the host project logs Django's warnings and errors on stdout."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "print('status', Client().get('/healthz', HTTP_HOST='evil.example').status_code)"
    )
    env = environment(
        tmp_path,
        DJANGO_SECRET_KEY=SECRET_KEY,
        SMTPCONFIG_ENCRYPTION_KEYS=ENCRYPTION_KEY,
        DJANGO_LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="mailsettings.settings",
    )
    done = run([sys.executable, "-c", code], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "status 400"
    records = [json.loads(line) for line in lines[:-1]]
    assert any(
        record["logger"] == "django.security.DisallowedHost" and "evil.example" in record["message"]
        for record in records
    ), done.stdout
