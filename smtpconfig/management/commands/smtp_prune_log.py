"""``manage.py smtp_prune_log``: delete delivery log rows past their retention."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from smtpconfig.conf import get_setting
from smtpconfig.delivery import log as delivery_log


class Command(BaseCommand):
    help = (
        "Delete delivery log rows older than SMTPCONFIG['DELIVERY_LOG_RETENTION_DAYS'] "
        "(default 30) days, in batches each committed on its own. Run it daily, from "
        "cron or a scheduler."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            help="Keep this many days instead of the setting's value (0 deletes everything "
            "older than now).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=delivery_log.PRUNE_BATCH,
            help="Delete at most this many rows per statement and transaction "
            f"(default {delivery_log.PRUNE_BATCH}).",
        )

    def handle(self, *args, days=None, batch_size=delivery_log.PRUNE_BATCH, **options):
        if days is None:
            days = int(get_setting("DELIVERY_LOG_RETENTION_DAYS"))
        if days < 0:
            raise CommandError(_("--days cannot be negative."))
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        deleted = delivery_log.prune(days, batch_size=batch_size)
        self.stdout.write(
            self.style.SUCCESS(
                _("Deleted %(count)d delivery log rows older than %(days)d days.")
                % {"count": deleted, "days": days}
            )
        )
