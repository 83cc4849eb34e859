"""Run a test of a profile (saved or not) and record its outcome on a saved one.

The admin's buttons and ``manage.py smtp_test`` both come through here, so
they test the same way and describe the outcome in the same words.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from .diagnosis import Diagnosis
from .exceptions import SMTPConfigImproperlyConfigured
from .log_events import log_event
from .models import Security, SMTPProfile
from .probe import ProbeReport, run_probe
from .transport.settings import ConnectionSettings, strip_brackets

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


def run_test(
    settings: ConnectionSettings,
    recipient: str,
    *,
    send: bool = True,
    profile_pk: int | None = None,
) -> ProbeReport:
    """Probe ``settings`` (a profile's, saved or not: ``profile_pk`` None) and return the
    report; the outcome is logged as a ``test`` event (:mod:`smtpconfig.log_events`)."""
    report = run_probe(settings, recipient, send=send)
    failed = report.failed_step
    log_event(
        logging.INFO if report.ok else logging.WARNING,
        "test",
        "%s of SMTP profile “%s” (%s): %s.",
        "Test email" if send else "Connection check",
        settings.profile_name,
        settings.server,
        "ok" if report.ok else f"failed at step “{failed.name}”" if failed else "failed",
        profile=settings.profile_name,
        profile_pk=profile_pk,
        server=settings.server,
        step=failed.name if failed else "",
        outcome="ok" if report.ok else "failed",
        duration=report.duration,
        recipients=[recipient] if send else None,
        kind="send_test" if send else "connection_check",
    )
    return report


@sensitive_variables("settings", "values")
def settings_digest(settings: ConnectionSettings) -> str:
    """A keyed digest of what decides whether a test passes: the server, the login (the
    password and OAuth2 client included) and the sender; not the timeout, display name or
    a refresh token the provider rotates.

    Keyed with ``SECRET_KEY`` (``salted_hmac``), so that it says nothing about the secrets
    it covers. The same for a profile and for a form with the same values.
    """
    request = settings.oauth_request
    values = {
        "host": strip_brackets(settings.host).lower().rstrip("."),
        "port": int(settings.port),
        "security": str(settings.security),
        "login": str(settings.login_method),
        "username": settings.username,
        "password": settings.password,
        "verify": bool(settings.verify_certificate),
        "ca": (settings.ca_certificate or "").strip(),
        "plaintext": bool(settings.allow_plaintext_auth),
        "sender": (settings.from_email or "").lower(),
        "oauth": [
            request.token_url,
            request.client_id,
            request.grant_type,
            request.scope,
            request.client_secret,
        ]
        if request is not None
        else None,
    }
    encoded = json.dumps(values, sort_keys=True, ensure_ascii=False)
    return salted_hmac("smtpconfig.tested-settings", encoded, algorithm="sha256").hexdigest()


def profile_settings_digest(profile: SMTPProfile) -> str | None:
    """:func:`settings_digest` of a profile as it is; None when its secrets cannot be read."""
    try:
        return settings_digest(profile.connection_settings())
    except SMTPConfigImproperlyConfigured:
        return None


def outcome_of(report: ProbeReport, digest: str) -> dict:
    """The ``last_test_*`` values of a test of the settings whose digest is ``digest``."""
    return {
        "last_test_at": timezone.now(),
        "last_test_ok": report.ok,
        "last_test_message": report.summary(),
        "last_test_report": report.as_dict(),
        "last_test_settings_digest": digest,
    }


def record_outcome(profile: SMTPProfile, report: ProbeReport, *, digest: str | None = None) -> bool:
    """Store the test's outcome on a saved ``profile``; False if it could not be stored.

    ``digest`` is that of the settings tested (:func:`settings_digest`); by default the
    profile's own, as saved. Only the ``last_test_*`` columns are written, so values typed
    into a form but not saved stay unsaved. A database that refuses the write (read-only,
    locked) loses the record, never the report: the caller still shows it.
    """
    if digest is None:
        digest = profile_settings_digest(profile) or ""
    return store_outcome(profile, outcome_of(report, digest))


def store_outcome(profile: SMTPProfile, outcome: dict) -> bool:
    """Write ``outcome`` (:func:`outcome_of`) on ``profile``; False if refused."""
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
