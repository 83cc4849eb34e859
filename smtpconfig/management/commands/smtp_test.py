"""``manage.py smtp_test``: send a test email through a profile and report each step."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from smtpconfig.exceptions import SMTPConfigImproperlyConfigured
from smtpconfig.models import Security, SMTPProfile
from smtpconfig.providers.readiness import password_sign_in_ending
from smtpconfig.tester import not_recorded_message, record_outcome, report_lines, run_test

EXIT_ACCEPTED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Command(BaseCommand):
    help = (
        "Send a test email through an SMTP profile (the default profile unless --profile is "
        "given), print each step of the SMTP conversation and what to fix if it fails. "
        "Exits 0 when the server accepted the message, 1 when the test failed and 2 on a "
        "usage or configuration error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to",
            metavar="ADDRESS",
            help="Recipient of the test email (default: the profile's test recipient; with "
            "--no-send, else the profile's sender address).",
        )
        parser.add_argument(
            "--profile",
            metavar="NAME",
            help="Name of the profile to test (default: the default profile).",
        )
        parser.add_argument("--json", action="store_true", help="Print the full report as JSON.")
        parser.add_argument(
            "--no-send",
            action="store_true",
            help="Check the connection, login, sender and recipient, then stop before "
            "sending: nothing is delivered.",
        )

    def handle(self, *args, to=None, profile=None, json=False, no_send=False, **options):
        profile_obj = self._profile(profile)
        recipient = (to or profile_obj.test_recipient or "").strip()
        if not recipient and no_send:
            # Nothing is delivered, so the sender's own address is a fine RCPT to check.
            recipient = profile_obj.from_email.strip()
        if not recipient:
            raise CommandError(
                _("Give a recipient with --to ADDRESS (profile “%(name)s” has no test recipient).")
                % {"name": profile_obj.name},
                returncode=EXIT_USAGE,
            )
        try:
            validate_email(recipient)
        except ValidationError:
            raise CommandError(
                _("“%(address)s” is not a valid email address.") % {"address": recipient},
                returncode=EXIT_USAGE,
            ) from None
        try:
            settings = profile_obj.connection_settings()
        except SMTPConfigImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None

        ending = password_sign_in_ending(profile_obj)
        if ending:
            self.stderr.write(self.style.WARNING(ending))
        if not json:
            self.stdout.write(
                _("Testing SMTP profile “%(name)s” (%(server)s, %(mode)s), recipient %(to)s")
                % {
                    "name": profile_obj.name,
                    "server": profile_obj.server,
                    "mode": Security(profile_obj.security).label,
                    "to": recipient,
                }
            )
        report = run_test(settings, recipient, send=not no_send, profile_pk=profile_obj.pk)
        recorded = record_outcome(profile_obj, report)

        if json:
            self.stdout.write(_json_dumps({"profile": profile_obj.name, **report.as_dict()}))
        else:
            for line in report_lines(report):
                style = self.style.SUCCESS if report.ok and line == report.summary() else None
                self.stdout.write(style(line) if style else line)
        if not recorded:
            self.stderr.write(not_recorded_message())
        if not report.ok:
            # A failed test is a verdict, not a crash: exit 1 without a traceback.
            raise SystemExit(EXIT_FAILED)

    def _profile(self, name):
        if name:
            profile = SMTPProfile.objects.filter(name=name).first()
            if profile is None:
                names = ", ".join(SMTPProfile.objects.values_list("name", flat=True))
                raise CommandError(
                    _("There is no SMTP profile named “%(name)s”.") % {"name": name}
                    + (" " + _("Profiles: %(names)s.") % {"names": names} if names else ""),
                    returncode=EXIT_USAGE,
                )
            return profile
        profile = SMTPProfile.objects.in_sending_order().first()
        if profile is None:
            raise CommandError(
                _(
                    "No enabled SMTP profile. Add one in the admin (SMTP profiles) or name "
                    "one with --profile NAME."
                ),
                returncode=EXIT_USAGE,
            )
        return profile


def _json_dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
