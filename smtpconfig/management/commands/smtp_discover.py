"""``manage.py smtp_discover``: SMTP settings for an email address."""

import json

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from smtpconfig.models import Security
from smtpconfig.providers.discovery import discover


class Command(BaseCommand):
    help = (
        "Print candidate SMTP settings for an email address, best first: a known provider, "
        "the domain's MX records, its SRV records (RFC 6186/8314) and a short guess."
    )

    def add_arguments(self, parser):
        parser.add_argument("address", help="The email address mail will be sent from.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, address, json=False, **options):
        result = discover(address)
        if json:
            self.stdout.write(_dumps(result.as_dict()))
            return
        if result.candidates:
            self.stdout.write(_("Candidates for %(address)s, best first:") % {"address": address})
        else:
            self.stdout.write(_("Nothing was found for %(address)s.") % {"address": address})
        for number, candidate in enumerate(result.candidates, start=1):
            self.stdout.write(
                f"  {number}. {candidate.host}:{candidate.port} "
                f"{Security(candidate.security).label}"
                + (f", {_('user name')} {candidate.username}" if candidate.username else "")
                + f"  [{candidate.source}, {candidate.confidence}]"
            )
            if candidate.explanation:
                self.stdout.write(f"     {candidate.explanation}")
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
