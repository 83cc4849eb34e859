"""The profile list's columns and the read-only panels of a profile's page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.contrib.admin.views.main import ChangeList
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..models import Security, SMTPProfile
from ..probe import STEP_LABELS, ProbeReport
from ..providers.domain_health import check_sender_domain
from .health import SendingHealth, sending_health
from .presenters import report_context
from .queue_status import FAILED_OR_UNKNOWN, OutboxCounts, outbox_counts, outbox_url


class ProfileChangeList(ChangeList):
    """The list, with each row's ``sending_health`` read for the whole page at once."""

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)  # fills the queryset's cache the template reads
        health = sending_health(rows)
        add_outbox_failures(
            health, outbox_counts(request), request, self.model_admin.admin_site.name
        )
        for profile in rows:
            profile.sending_health = health[profile.pk]

    def card_labels(self) -> list[tuple[str, str]]:
        """Each column's class and heading, CSS-escaped: a row shown as a card on a phone
        labels its values with them (admin.css), with or without JavaScript."""
        labels = []
        for name in self.list_display:
            if name == "action_checkbox" or name in self.list_display_links:
                continue  # the checkbox, and the name the card starts with, need no label
            text = label_for_field(name, self.model, self.model_admin)
            labels.append((name, _css_string(str(text)[:1].upper() + str(text)[1:])))
        return labels


def add_outbox_failures(
    health: dict[int, SendingHealth], counts: OutboxCounts, request, site_name: str
) -> None:
    """Give each profile's health its failed and unknown messages in the outbox, and the
    link to them (for a user who may see the outbox)."""
    for pk, item in health.items():
        item.outbox_failed = counts.failed_by_profile.get(pk, 0)
        if item.outbox_failed:
            item.outbox_failed_url = outbox_url(
                request, site_name, state=FAILED_OR_UNKNOWN, profile__id__exact=pk
            )


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

    @admin.display(description=gettext_lazy("deliveries (24 h)"))
    def sending_column(self, profile: SMTPProfile) -> str:
        """What the delivery log says of the profile lately (``sending_health``, set by
        the list for all its rows at once)."""
        health = getattr(profile, "sending_health", None)
        if health is None or health.empty:
            return format_html('<span class="smtpconfig-sending">{}</span>', _("none"))
        if not (health.sent or health.failed or health.unknown):  # only the outbox's
            return _outbox_failed(health)
        failed = ngettext("%(count)d failed", "%(count)d failed", health.failed) % {
            "count": health.failed
        }
        if health.more_failures:
            failed = _("%(count)d+ failed") % {"count": health.failed}
        text = _("%(sent)s, %(failed)s") % {
            "sent": ngettext("%(count)d sent", "%(count)d sent", health.sent)
            % {"count": health.sent},
            "failed": failed,
        }
        if health.unknown:
            text = _("%(counts)s, %(unknown)s") % {
                "counts": text,
                "unknown": ngettext("%(count)d unknown", "%(count)d unknown", health.unknown)
                % {"count": health.unknown},
            }
        if health.last_failure is not None:
            text = _("%(counts)s; last failure %(time)s") % {
                "counts": text,
                "time": _local_time(health.last_failure),
            }
        failing = (health.failed or health.unknown) and not health.sent_since(health.last_failure)
        html = format_html(
            '<span class="smtpconfig-sending smtpconfig-{}">{}</span>',
            "failed" if failing else "ok",
            text,
        )
        if health.outbox_failed:
            return format_html("{} {}", html, _outbox_failed(health))
        return html

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


def _outbox_failed(health) -> str:
    """The profile's failed and unknown messages in the outbox, linked to them there."""
    text = ngettext(
        "%(count)d message failed or unknown in the outbox",
        "%(count)d messages failed or unknown in the outbox",
        health.outbox_failed,
    ) % {"count": health.outbox_failed}
    if health.outbox_failed_url:
        return format_html(
            '<a class="smtpconfig-outbox-failed" href="{}">{}</a>', health.outbox_failed_url, text
        )
    return format_html('<span class="smtpconfig-outbox-failed">{}</span>', text)


def _local_time(moment) -> str:
    """A time of the last day as the admin reads it: "10:42", or with the date if older."""
    moment = timezone.localtime(moment)
    if timezone.localdate() == moment.date():
        return date_filter(moment, "TIME_FORMAT")
    return date_filter(moment, "SHORT_DATETIME_FORMAT")


def _css_string(text: str) -> str:
    """``text`` as the inside of a double-quoted CSS string: anything but letters, digits
    and spaces as a hex escape, so that no label can end the string or the style element."""
    return "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text)
