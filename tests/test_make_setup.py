"""`make setup` (what `make run` does before it starts the server): the new key's backup
warning and the admin account come last, after everything else it prints (issue 13, 17).

The real Makefile runs in a subprocess with this interpreter's virtual environment and a
runtime folder of its own; the install step is skipped (INSTALLED= on the command line).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_setup(runtime: Path) -> list[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "SMTPCONFIG_", "DATABASE_URL"))
    }
    env.update(MAILSETTINGS_RUNTIME_DIR=str(runtime), DJANGO_SECRET_KEY="tests-only-not-secret")
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "setup",
            f"VENV={VENV}",
            "INSTALLED=",
            f"RUNTIME={runtime}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


def test_first_setup_ends_with_the_key_backup_warning_and_the_admin_account(tmp_path):
    lines = make_setup(tmp_path)
    tail = "\n".join(lines[-6:])
    key = str(tmp_path / "encryption.key")
    assert f"Wrote a new encryption key to {key}." in tail
    assert f"BACK UP THIS FILE: {key} is the only key to the stored SMTP passwords" in tail
    assert "Without it they are lost" in tail
    assert "Created the admin account “admin”" in tail
    assert lines[-1].strip() == "This password is shown only once: write it down."
    # The key first, the account last: the password is what is read last.
    assert tail.index("BACK UP") < tail.index("user name: admin") < tail.index("password:  ")
    assert not any("Wrote a new encryption key" in line for line in lines[:-6])

    again = make_setup(tmp_path)
    assert "Kept the existing encryption key" in again[-2] and "backup" in again[-2]
    assert again[-1].startswith("Admin account: admin")
