"""Run a test of a profile (saved or not) and record its outcome on a saved one.

The admin's buttons and ``manage.py smtp_test`` both come through here, so
they test the same way and describe the outcome in the same words.
"""

from __future__ import annotations

import logging

from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .diagnosis import Diagnosis
from .models import Security, SMTPProfile
from .probe import ProbeReport, run_probe
from .transport.settings import ConnectionSettings

logger = logging.getLogger("smtpconfig")


def field_label(name: str) -> str:
    """The human label of a profile field a diagnosis points at."""
    if name == "password":
        return _("password")
    try:
        return str(SMTPProfile._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def suggestion_label(diagnosis: Diagnosis) -> str:
    """The suggested value as the form shows it (a mode's label, not its stored value)."""
    if diagnosis.suggestion in (None, ""):
        return ""
    if diagnosis.field == "security":
        return str(Security(diagnosis.suggestion).label)
    return str(diagnosis.suggestion)


def run_test(settings: ConnectionSettings, recipient: str, *, send: bool = True) -> ProbeReport:
    """Probe ``settings`` (a profile's, saved or not) and return the report."""
    return run_probe(settings, recipient, send=send)


def record_outcome(profile: SMTPProfile, report: ProbeReport) -> bool:
    """Store the test's outcome on a saved ``profile``; False if it could not be stored.

    Only the ``last_test_*`` columns are written, so values typed into a form
    but not saved stay unsaved. A database that refuses the write (read-only,
    locked) loses the record, never the report: the caller still shows it.
    """
    outcome = {
        "last_test_at": timezone.now(),
        "last_test_ok": report.ok,
        "last_test_message": report.summary(),
        "last_test_report": report.as_dict(),
    }
    try:
        with transaction.atomic():
            SMTPProfile.objects.filter(pk=profile.pk).update(**outcome)
    except DatabaseError as exc:
        logger.warning(
            "smtpconfig: the test of profile %s could not be recorded: %s", profile.pk, exc
        )
        return False
    for name, value in outcome.items():
        setattr(profile, name, value)
    return True


def not_recorded_message() -> str:
    """What the admin and the command say when :func:`record_outcome` failed."""
    return _(
        "The result could not be recorded: the database refused the write (it may be "
        "read-only or locked). The report above is complete; nothing else was changed."
    )


def report_lines(report: ProbeReport) -> list[str]:
    """The report as plain-text lines (the command's output)."""
    lines = []
    for step in report.steps:
        mark = "ok" if step.ok else "FAILED"
        lines.append(f"  [{mark:>6}] {step.label:<22} {step.duration_ms:>7} ms  {step.detail}")
    lines.append("")
    lines.append(report.summary())
    if report.cut:
        lines.append(_("The server's reply was cut: it was longer than a report keeps."))
    if report.diagnosis:
        lines.append(_("What is wrong: %(problem)s") % {"problem": report.diagnosis.problem})
        lines.append(_("What to change: %(fix)s") % {"fix": report.diagnosis.fix})
        if report.diagnosis.field:
            setting = field_label(report.diagnosis.field)
            if suggestion_label(report.diagnosis):
                lines.append(
                    _("Setting: %(field)s (suggested: %(value)s)")
                    % {"field": setting, "value": suggestion_label(report.diagnosis)}
                )
            else:
                lines.append(_("Setting: %(field)s") % {"field": setting})
    return lines
