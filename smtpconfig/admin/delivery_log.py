"""The delivery log in the admin: what the backend sent or could not send, read-only.

Built for a log of millions of rows: no page counts the whole table
(:mod:`.log_pagination`), the filters' choices read nothing from the log (the
outcomes are fixed, the profiles come from their own table, the dates are
Django's fixed ranges), and the search is ``DeliveryLog.objects.search``, which
PostgreSQL's indexes serve (models/log_search.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import DeliveryLog, SMTPProfile
from ..models.log_search import SEARCHED_FIELDS
from .log_pagination import EstimatedCountPaginator
from .read_only import ReadOnlyAdminMixin

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
class DeliveryLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    # "profile" filters by the foreign key, its choices read from the profiles' table
    # (not the log's distinct names: a scan of the whole log on every page), so a
    # deleted profile is no choice. No date_hierarchy: it reads the distinct years and
    # months of the whole log on every page; the time filter's ranges need no query.
    list_filter = ["outcome", "profile", "created_at"]
    search_fields = SEARCHED_FIELDS  # shows the box; get_search_results does the search
    search_help_text = gettext_lazy(
        "Recipients, subject, sender or Message-ID. An address or a Message-ID is matched whole."
    )
    paginator = EstimatedCountPaginator
    # Only by time, which an index serves both ways: a header click on any other
    # column would sort the whole log for one page.
    sortable_by = ["time_column"]
    show_full_result_count = False
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
        # The row's profile_id may name a profile deleted since (nothing rewrites the
        # log): the queryset's LEFT JOIN gives None, a query without it DoesNotExist.
        try:
            profile = entry.profile
        except SMTPProfile.DoesNotExist:
            profile = None
        name = entry.profile_name or (profile.name if profile is not None else "")
        if not name:
            return "—"
        if profile is None:  # deleted since, or Django's EMAIL_* settings
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

    def get_search_results(self, request, queryset, search_term):
        return queryset.search(search_term), False

    def get_queryset(self, request):
        # Of the profile only its name: its row carries a test report of up to 64 KiB.
        columns = [field.name for field in DeliveryLog._meta.concrete_fields]
        return (
            super().get_queryset(request).select_related("profile").only(*columns, "profile__name")
        )
