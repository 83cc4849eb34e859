"""``manage.py smtp_outbox_sweep``: recover what the task queue lost, once or in a loop."""

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from smtpconfig.outbox.sweep import sweep


class Command(BaseCommand):
    help = (
        "Wake a worker for outbox messages whose trigger was lost (the broker was down, a "
        "worker was killed), mark messages whose worker died while sending them as unknown, "
        "forget finished messages past OUTBOX_RETENTION, and alert when the queue backs up. "
        "Run it every minute from cron, or with --every to loop."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="Sweep again every SECONDS until stopped (Ctrl+C or SIGTERM).",
        )

    def handle(self, *args, every=None, **options):
        if every is not None and every <= 0:
            raise CommandError(_("--every must be a positive number of seconds."))
        if every is None:
            self._sweep_once(options["verbosity"], raise_errors=True)
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping:
                close_old_connections()
                self._sweep_once(options["verbosity"], raise_errors=False)
                deadline = time.monotonic() + every
                while not stopping and time.monotonic() < deadline:
                    time.sleep(min(0.5, every))
        except KeyboardInterrupt:
            pass

    def _sweep_once(self, verbosity: int, raise_errors: bool) -> None:
        """One sweep; ``raise_errors``: a single run (a loop reports and goes on)."""
        try:
            result = sweep()
        except DatabaseError as exc:
            if raise_errors:
                raise CommandError(
                    _("The outbox could not be swept: the database did not answer (%(error)s).")
                    % {"error": exc}
                ) from exc
            self.stderr.write(
                _("The outbox could not be swept: the database did not answer (%(error)s).")
                % {"error": exc}
            )
            return
        if verbosity == 0:
            return
        lines = []
        if result.due:
            lines.append(
                (
                    ngettext(
                        "%(count)d message was waiting for a worker; a worker was woken.",
                        "%(count)d messages were waiting for a worker; a worker was woken.",
                        result.due,
                    )
                    if result.woken
                    else ngettext(
                        "%(count)d message is waiting for a worker, and none could be woken "
                        "(is the task broker up?).",
                        "%(count)d messages are waiting for a worker, and none could be woken "
                        "(is the task broker up?).",
                        result.due,
                    )
                )
                % {"count": result.due}
            )
        if result.unknown:
            lines.append(
                ngettext(
                    "%(count)d message is now unknown: its worker stopped while sending it. "
                    "Check it in the admin's outbox.",
                    "%(count)d messages are now unknown: their worker stopped while sending "
                    "them. Check them in the admin's outbox.",
                    result.unknown,
                )
                % {"count": result.unknown}
            )
        if result.purged:
            lines.append(
                ngettext(
                    "Forgot %(count)d finished message past its retention.",
                    "Forgot %(count)d finished messages past their retention.",
                    result.purged,
                )
                % {"count": result.purged}
            )
        if not lines and raise_errors:  # run once: say so; a loop stays quiet when idle
            lines.append(_("Nothing to do: no message is waiting for a worker."))
        for line in lines:
            self.stdout.write(line)
