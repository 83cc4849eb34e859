"""``manage.py smtp_generate_key``: make a new encryption key for stored passwords."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from smtpconfig import crypto


class Command(BaseCommand):
    help = (
        "Print a new encryption key for SMTPCONFIG['ENCRYPTION_KEYS'] / "
        "SMTPCONFIG_ENCRYPTION_KEYS, or write it to a file that does not exist yet."
    )
    # Making a key must work while the missing key is what the checks complain about.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--file",
            type=Path,
            help="Write the key to this file (mode 600) unless the file already exists; "
            "an existing key is never overwritten.",
        )

    def handle(self, *args, file=None, **options):
        if file is None:
            self.stdout.write(crypto.generate_key())
            return
        try:
            created = crypto.write_key_file(file)
        except OSError as exc:
            raise CommandError(
                _("Cannot write the key file %(file)s: %(error)s")
                % {"file": file, "error": exc.strerror}
            ) from None
        if created:
            self.stdout.write(
                self.style.SUCCESS(_("Wrote a new encryption key to %(file)s.") % {"file": file})
            )
            self.stdout.write(self.style.WARNING(backup_warning(file)))
        else:
            self.stdout.write(
                _("Kept the existing encryption key in %(file)s (keep a backup of it).")
                % {"file": file}
            )


def backup_warning(file: Path) -> str:
    """What losing the key file costs, said where it is written."""
    return _(
        "BACK UP THIS FILE: %(file)s is the only key to the stored SMTP passwords and "
        "OAuth2 secrets. Without it they are lost and must be typed in again. Keep a copy "
        "outside this machine (or set SMTPCONFIG_ENCRYPTION_KEYS to its content)."
    ) % {"file": file}
