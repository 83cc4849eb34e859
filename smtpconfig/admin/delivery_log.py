"""The delivery log in the admin: what the backend sent or could not send, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import DeliveryLog

# To the second and with the zone: a log read beside a server's own log must line up.
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def format_time(moment) -> str:
    """A time to the second, in the site's zone, with the zone's name."""
    return timezone.localtime(moment).strftime(_TIME_FORMAT)


def format_duration(seconds: float) -> str:
    """A duration as people read it: "67 ms" under a second, else "2.4 s"."""
    if seconds < 1:
        # Rounded first: number_format cuts the decimals off rather than rounding them.
        return _("%(ms)s ms") % {"ms": number_format(round(seconds * 1000), 0)}
    return _("%(seconds)s s") % {"seconds": number_format(round(seconds, 1), 1)}


@admin.register(DeliveryLog)
class DeliveryLogAdmin(admin.ModelAdmin):
    """What the backend sent or could not send: read-only."""

    list_display = [
        "time_column",
        "outcome",
        "profile_column",
        "sender",
        "recipients",
        "subject",
        "duration_column",
    ]
    list_filter = ["outcome", "profile_name", "created_at"]
    search_fields = ["recipients", "subject", "message_id", "sender"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "time_column",
        "outcome",
        "profile_column",
        "tried_column",
        "sender",
        "recipients",
        "subject",
        "message_id",
        "reply",
        "duration_column",
    ]
    fields = readonly_fields

    @admin.display(description=gettext_lazy("time"), ordering="created_at")
    def time_column(self, entry: DeliveryLog) -> str:
        return format_time(entry.created_at)

    @admin.display(description=gettext_lazy("profile"), ordering="profile_name")
    def profile_column(self, entry: DeliveryLog) -> str:
        """The profile by the name it had then, linked to it while it still exists."""
        name = entry.profile_name or (entry.profile.name if entry.profile_id else "")
        if not name:
            return "—"
        if entry.profile_id is None:  # deleted since, or Django's EMAIL_* settings
            return name
        try:
            url = reverse("admin:smtpconfig_smtpprofile_change", args=[entry.profile_id])
        except NoReverseMatch:
            return name
        return format_html('<a href="{}">{}</a>', url, name)

    @admin.display(description=gettext_lazy("duration"), ordering="duration")
    def duration_column(self, entry: DeliveryLog) -> str:
        return format_duration(entry.duration)

    @admin.display(description=gettext_lazy("profiles that failed first"))
    def tried_column(self, entry: DeliveryLog) -> str:
        if not entry.tried:
            return "—"
        return format_html_join(
            "",
            "<p><strong>{}</strong> ({}, {}): {}</p>",
            (
                (item.get("profile"), item.get("server"), item.get("step"), item.get("error"))
                for item in entry.tried
            ),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("profile")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Rows go by the retention setting (manage.py smtp_prune_log), not by hand.
        return False
