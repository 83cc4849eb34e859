"""What the report and discovery templates need, from a report or a discovery result."""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy

from ..models import Security
from ..probe import ProbeReport
from ..providers.domain_health import check_sender_domain
from ..tester import field_label, suggestion_label


def report_context(report: ProbeReport, settings: dict | None = None) -> dict:
    """What the report template needs besides the report itself.

    With ``settings`` (the form's values) and a passing test, the sender
    domain's DNS findings are added: the server took the message, and they
    say whether receivers will. The page shows the report as it is stored (at
    most ``MAX_REPORT_BYTES`` as JSON, cut where a server made it long), so a
    hostile server cannot make the page larger than the stored report.
    """
    report = ProbeReport.from_dict(report.as_dict())
    diagnosis = report.diagnosis
    findings = []
    if settings and settings.get("from_email") and report.ok:
        findings = check_sender_domain(settings["from_email"], settings.get("host", ""))
    return {
        "report": report,
        "smtp_diagnosis_field_label": field_label(diagnosis.field) if diagnosis else "",
        "smtp_diagnosis_suggestion": suggestion_label(diagnosis) if diagnosis else "",
        "findings": findings,
    }


_CONFIDENCE_LABELS = {
    "high": gettext_lazy("sure"),
    "medium": gettext_lazy("likely"),
    "low": gettext_lazy("a guess"),
    # A preset's documented settings that DNS could not confirm.
    "known": gettext_lazy("known provider"),
}


def discovery_context(result, use_settings_url: str = "") -> dict:
    """Discovery results as the template and the page's script need them.

    ``use_settings_url`` is where each candidate's "Use these settings" posts.
    """
    candidates = []
    for candidate in result.candidates:
        values = {
            "host": candidate.host,
            "port": candidate.port,
            "security": candidate.security,
            "username": candidate.username,
            "preset": candidate.preset,
        }
        candidates.append(
            {
                **candidate.as_dict(),
                "values": values,
                "json": json.dumps(values),
                "security_label": Security(candidate.security).label,
                "confidence_label": _CONFIDENCE_LABELS.get(candidate.confidence, ""),
            }
        )
    return {
        "address": result.address,
        "candidates": candidates,
        "notes": result.notes,
        "found": bool(candidates),
        "use_settings_url": use_settings_url,
    }
