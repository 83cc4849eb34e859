"""Run a test of a profile (saved or not) and record its outcome on a saved one.

The admin's buttons and ``manage.py smtp_test`` both come through here, so
they test the same way and describe the outcome in the same words.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _

from .diagnosis import Diagnosis
from .models import Security, SMTPProfile
from .probe import ProbeReport, ProbeSettings, run_probe


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


def run_test(
    settings: ProbeSettings,
    recipient: str,
    *,
    send: bool = True,
    profile: SMTPProfile | None = None,
) -> ProbeReport:
    """Probe ``settings``; if ``profile`` is a saved profile, store the outcome on it.

    Only the ``last_test_*`` columns are written, so values typed into a form
    but not saved stay unsaved.
    """
    report = run_probe(settings, recipient, send=send)
    if profile is not None and profile.pk is not None:
        now = timezone.now()
        outcome = {
            "last_test_at": now,
            "last_test_ok": report.ok,
            "last_test_message": report.summary(),
            "last_test_report": report.as_dict(),
        }
        SMTPProfile.objects.filter(pk=profile.pk).update(**outcome)
        for name, value in outcome.items():
            setattr(profile, name, value)
    return report


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
