"""Management commands: smtp_test, smtp_generate_key, and the host's ensure_admin."""

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from smtpconfig.models import SMTPProfile

from .helpers import PASSWORD, USER
from .smtpd import free_port

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[int, str]:
    """Run a command as the shell would: its exit code and everything it printed."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return code, out.getvalue() + err.getvalue()


def test_smtp_test_exits_0_when_the_server_accepts(auth_server, make_profile):
    make_profile(port=auth_server.port, username=USER, password=PASSWORD)
    code, output = run("smtp_test", "--to", "x@example.org")
    assert code == 0
    assert "Authentication" in output and "logged in as" in output
    assert "accepted the test email for x@example.org" in output
    assert PASSWORD not in output
    assert auth_server.messages[0].rcpt_tos == ["x@example.org"]
    assert SMTPProfile.objects.get().last_test_ok is True


def test_smtp_test_exits_1_with_the_failing_step_and_fix(auth_server, make_profile):
    make_profile(port=auth_server.port, username=USER, password="Wr0ng-Secret-42")
    code, output = run("smtp_test", "--to", "x@example.org")
    assert code == 1
    assert "FAILED" in output and "535" in output
    assert "What to change:" in output
    assert "Wr0ng-Secret-42" not in output
    assert SMTPProfile.objects.get().last_test_ok is False


def test_smtp_test_json_report(plain_server, make_profile):
    make_profile(name="Backup", port=plain_server.port, is_default=False)
    code, output = run("smtp_test", "--to", "x@example.org", "--profile", "Backup", "--json")
    assert code == 0
    report = json.loads(output)
    assert report["ok"] is True and report["profile"] == "Backup"
    assert [step["name"] for step in report["steps"]][-1] == "data"


def test_smtp_test_json_on_failure(make_profile):
    make_profile(port=free_port())
    code, output = run("smtp_test", "--to", "x@example.org", "--json")
    assert code == 1
    report = json.loads(output)
    assert report["failed_step"] == "connect"
    assert report["diagnosis"]["code"] == "connection_refused"


def test_smtp_test_no_send_delivers_nothing(plain_server, make_profile):
    make_profile(port=plain_server.port)
    code, _ = run("smtp_test", "--to", "x@example.org", "--no-send")
    assert code == 0
    assert plain_server.messages == []


def test_smtp_test_uses_the_profiles_test_recipient(plain_server, make_profile):
    make_profile(port=plain_server.port, test_recipient="tests@example.org")
    assert run("smtp_test")[0] == 0
    assert plain_server.messages[0].rcpt_tos == ["tests@example.org"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "x@example.org", "--profile", "Nope"], "no SMTP profile named “Nope”"),
        ([], "Give a recipient with --to"),
        (["--to", "not-an-address"], "not a valid email address"),
    ],
)
def test_smtp_test_usage_errors_exit_2(make_profile, args, message):
    make_profile()
    code, output = run("smtp_test", *args)
    assert code == 2
    assert message in output


def test_smtp_test_without_any_profile_exits_2():
    code, output = run("smtp_test", "--to", "x@example.org")
    assert code == 2
    assert "No enabled SMTP profile" in output


def test_smtp_test_with_unreadable_password_exits_2(make_profile, settings):
    make_profile(username=USER, password=PASSWORD)
    settings.SMTPCONFIG = {"ENCRYPTION_KEYS": [Fernet.generate_key().decode()]}
    code, output = run("smtp_test", "--to", "x@example.org")
    assert code == 2
    assert "cannot be decrypted" in output


def test_generate_key_prints_a_valid_key():
    code, output = run("smtp_generate_key")
    assert code == 0
    Fernet(output.strip())


def test_generate_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "encryption.key"
    assert "Wrote a new encryption key" in run("smtp_generate_key", "--file", str(path))[1]
    key = path.read_text()
    assert "Kept the existing" in run("smtp_generate_key", "--file", str(path))[1]
    assert path.read_text() == key


def test_ensure_admin_creates_one_with_a_printed_password_once(monkeypatch):
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    code, output = run("ensure_admin")
    assert code == 0
    password = output.split("password:")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    code, again = run("ensure_admin")
    assert password not in again
    assert get_user_model().objects.count() == 1


def test_ensure_admin_uses_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Given-Pass-123")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.org")
    code, output = run("ensure_admin")
    assert "Given-Pass-123" not in output
    boss = get_user_model().objects.get(username="boss")
    assert boss.check_password("Given-Pass-123") and boss.email == "boss@example.org"


def test_smtp_test_exit_codes_from_the_shell(tmp_path, auth_server):
    """As an operator runs it: its own process, its own database, the real exit code."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailsettings.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SMTPCONFIG_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_SECRET_KEY": "x" * 50,
        "MAILSETTINGS_RUNTIME_DIR": str(tmp_path),
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert manage("migrate", "--verbosity", "0").returncode == 0
    create = (
        "from smtpconfig.models import SMTPProfile; SMTPProfile.objects.create("
        f"name='Main', host='127.0.0.1', port={auth_server.port}, security='none', "
        f"username={USER!r}, password={PASSWORD!r}, from_email='noreply@example.com', "
        "is_default=True, timeout=5, allow_plaintext_auth=True)"
    )
    assert manage("shell", "-c", create).returncode == 0

    accepted = manage("smtp_test", "--to", "x@example.org")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert PASSWORD not in accepted.stdout + accepted.stderr
    assert len(auth_server.messages) == 1

    auth_server.authenticator.users[USER] = "changed on the server"
    failed = manage("smtp_test", "--to", "x@example.org")
    assert failed.returncode == 1
    assert "535" in failed.stdout
    assert "Traceback" not in failed.stderr

    usage = manage("smtp_test", "--to", "x@example.org", "--profile", "Nope")
    assert usage.returncode == 2
    assert "Nope" in usage.stderr


def test_smtp_test_no_send_uses_the_profiles_test_recipient(plain_server, make_profile):
    make_profile(port=plain_server.port, test_recipient="tests@example.org")
    code, output = run("smtp_test", "--no-send")
    assert code == 0, output
    assert "tests@example.org" in output
    assert plain_server.messages == []


def test_smtp_test_no_send_needs_no_recipient(plain_server, make_profile):
    make_profile(port=plain_server.port, test_recipient="", from_email="noreply@example.com")
    code, output = run("smtp_test", "--no-send")
    assert code == 0, output
    assert "recipient noreply@example.com" in output
    assert plain_server.messages == []
    assert run("smtp_test")[0] == 2  # sending still asks where to
