"""`pip install .` ships the reusable app whole, and nothing of the host project."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_the_app_with_templates_static_files_and_migrations(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("smtpconfig-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "smtpconfig/backends.py",
        "smtpconfig/migrations/0001_initial.py",
        "smtpconfig/templates/admin/smtpconfig/smtpprofile/change_form.html",
        "smtpconfig/templates/smtpconfig/test_report.html",
        "smtpconfig/static/smtpconfig/profile_form.js",
        "smtpconfig/management/commands/smtp_test.py",
    ):
        assert expected in names
    assert not [name for name in names if name.startswith(("mailsettings/", "tests/"))]
