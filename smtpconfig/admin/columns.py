"""The profile list's columns and the read-only panels of a profile's page."""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import Security, SMTPProfile
from ..probe import STEP_LABELS, ProbeReport
from ..providers.domain_health import check_sender_domain
from .presenters import report_context


class ProfileColumns:
    """Mixed into the profile admin: what the list and the History panel show."""

    @admin.display(description=gettext_lazy("order"), ordering="priority")
    def order_column(self, profile: SMTPProfile) -> int:
        return profile.priority

    @admin.display(description=gettext_lazy("server"), ordering="host")
    def server_column(self, profile: SMTPProfile) -> str:
        return profile.server

    @admin.display(description=gettext_lazy("SSL/TLS mode"), ordering="security")
    def security_column(self, profile: SMTPProfile) -> str:
        label = Security(profile.security).label
        if profile.security != Security.NONE and not profile.verify_certificate:
            return format_html(
                '{} <span class="smtpconfig-warning" title="{}">⚠ {}</span>',
                label,
                _("The server's certificate is not checked: the connection can be intercepted."),
                _("certificate not verified"),
            )
        if profile.security == Security.NONE and profile.username:
            return format_html(
                '{} <span class="smtpconfig-warning">⚠ {}</span>', label, _("unencrypted")
            )
        return label

    @admin.display(description=gettext_lazy("sender"), ordering="from_email")
    def sender_column(self, profile: SMTPProfile) -> str:
        return format_html('<span title="{}">{}</span>', profile.sender, profile.from_email)

    @admin.display(description=gettext_lazy("last test"), ordering="last_test_at")
    def last_test_column(self, profile: SMTPProfile) -> str:
        if profile.last_test_at is None:
            return _("never")
        if profile.last_test_ok:
            outcome = _("passed")
        else:
            failed_step = (profile.last_test_report or {}).get("failed_step")
            outcome = (
                _("failed at “%(step)s”") % {"step": STEP_LABELS[failed_step]}
                if failed_step in STEP_LABELS
                else _("failed")
            )
        return format_html(
            '<span class="smtpconfig-last-test smtpconfig-{}" title="{}">{}, {}</span>',
            "ok" if profile.last_test_ok else "failed",
            profile.last_test_message,
            outcome,
            _("just now")
            if (timezone.now() - profile.last_test_at).total_seconds() < 60
            else _("%(time)s ago") % {"time": timesince(profile.last_test_at)},
        )

    @admin.display(description=gettext_lazy("sender domain DNS"))
    def sender_domain_health(self, profile: SMTPProfile) -> str:
        return render_to_string(
            "smtpconfig/domain_health.html",
            {"findings": check_sender_domain(profile.from_email, profile.host)},
        )

    @admin.display(description=gettext_lazy("last test report"))
    def last_test_details(self, profile: SMTPProfile) -> str:
        if not profile.last_test_report:
            return _("No test yet.")
        report = ProbeReport.from_dict(profile.last_test_report)
        return render_to_string(
            "smtpconfig/test_report.html", {**report_context(report), "folded": True}
        )
