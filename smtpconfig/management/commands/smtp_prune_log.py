"""``manage.py smtp_prune_log``: delete delivery log rows past their retention."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from smtpconfig.conf import get_setting
from smtpconfig.delivery import log as delivery_log


class Command(BaseCommand):
    help = (
        "Delete delivery log rows older than SMTPCONFIG['DELIVERY_LOG_RETENTION_DAYS'] "
        "(default 30) days. Run it daily, from cron or a scheduler."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            help="Keep this many days instead of the setting's value (0 deletes everything "
            "older than now).",
        )

    def handle(self, *args, days=None, **options):
        if days is None:
            days = int(get_setting("DELIVERY_LOG_RETENTION_DAYS"))
        if days < 0:
            raise CommandError(_("--days cannot be negative."))
        deleted = delivery_log.prune(days)
        self.stdout.write(
            self.style.SUCCESS(
                _("Deleted %(count)d delivery log rows older than %(days)d days.")
                % {"count": deleted, "days": days}
            )
        )
