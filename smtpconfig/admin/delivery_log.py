"""The delivery log in the admin: what the backend sent or could not send, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import DeliveryLog


@admin.register(DeliveryLog)
class DeliveryLogAdmin(admin.ModelAdmin):
    """What the backend sent or could not send: read-only."""

    list_display = [
        "created_at",
        "outcome",
        "profile_name",
        "sender",
        "recipients",
        "subject",
        "duration_column",
    ]
    list_filter = ["outcome", "profile_name", "created_at"]
    search_fields = ["recipients", "subject", "message_id", "sender"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "outcome",
        "profile",
        "profile_name",
        "tried_column",
        "sender",
        "recipients",
        "subject",
        "message_id",
        "reply",
        "duration",
    ]
    fields = readonly_fields

    @admin.display(description=gettext_lazy("duration"), ordering="duration")
    def duration_column(self, entry: DeliveryLog) -> str:
        return _("%(ms).0f ms") % {"ms": entry.duration * 1000}

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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Rows go by the retention setting (manage.py smtp_prune_log), not by hand.
        return False
